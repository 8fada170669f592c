"""Caller rate limits: requests and tokens per minute per key, team and key+model, shared by every
replica through Redis (one GCRA script, the same in-process), with OpenAI's x-ratelimit-* headers."""
