"""Backup archives: Velero-layout tar.gz writer/reader with optional streamed AES-256-GCM."""
