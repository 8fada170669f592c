"""The exact-match response cache of /v1/chat/completions (see policy.py for what is cached)."""
