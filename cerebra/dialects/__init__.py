"""Inbound dialects: what callers speak to cerebra (OpenAI Responses, Anthropic Messages), each translated
to and from the canonical model inside the gateway, OpenAI's chat-completions shape."""
