"""Schedules: cron-driven backups with keep-last-N and TTL retention, run by one scheduler at a time."""
