"""Routing: the route table (aliases -> deployments), strategies, and deployment health (cooldowns, latency)."""
