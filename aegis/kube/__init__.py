"""Aegis's Kubernetes adapter: clusters, discovery, paged listing and applying, over the official client."""
