"""Inbound dialects: what callers speak (OpenAI chat is the canonical model inside cerebra; Anthropic
Messages and the Responses API are translated into it and back), and the reasoning mapping they share
with the outbound provider adapters."""
