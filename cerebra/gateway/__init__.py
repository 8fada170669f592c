"""The /v1 surface: an OpenAI-compatible gateway (chat, embeddings, models) and native pass-through
routes, served by a bare ASGI app on the hot path (bytes and dicts, orjson, no per-request Pydantic)."""
