"""Dated currency rates: loaded through the API or a CSV file, used to report costs in one currency."""
