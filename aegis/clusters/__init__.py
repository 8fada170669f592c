"""Clusters: the names of OCO_AEGIS_CLUSTERS and whether each answers (never credentials)."""
