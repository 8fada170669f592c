"""The rules the gateway enforces besides routing (rate limits, budgets), kept in the database and
mirrored in each replica's memory, refreshed every few seconds so a change applies without a restart."""
