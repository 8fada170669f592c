"""The Anthropic Messages API dialect (POST /v1/messages, /v1/messages/count_tokens, /v1/models in
Anthropic's shape): native pass-through to Anthropic deployments, translation to the canonical chat
model (and back, event by event on streams) for every other provider."""
