"""Provider adapters: translation between the OpenAI wire format and OpenAI-compatible servers,
Anthropic's Messages API and Google's Gemini API (no HTTP here; the gateway sends the requests)."""

from __future__ import annotations

from cerebra.providers.anthropic import AnthropicAdapter
from cerebra.providers.base import (
    NativeUsageTap,
    ProviderAdapter,
    ProviderError,
    StreamTranslator,
    UpstreamRequest,
    UpstreamTarget,
    Usage,
)
from cerebra.providers.gemini import GeminiAdapter
from cerebra.providers.openai import OpenAIAdapter
from cerebra.providers.sse import SSEEvent, SSEParser

_ADAPTERS: dict[str, ProviderAdapter] = {
    "openai": OpenAIAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
}

PROVIDERS = frozenset(_ADAPTERS)


def get_adapter(provider_name: str) -> ProviderAdapter:
    """The (stateless, shared) adapter of a provider; ValueError for an unknown name."""
    try:
        return _ADAPTERS[provider_name]
    except KeyError:
        raise ValueError(
            f"unknown provider {provider_name!r} (expected one of {sorted(_ADAPTERS)})"
        ) from None


__all__ = [
    "PROVIDERS",
    "NativeUsageTap",
    "ProviderAdapter",
    "ProviderError",
    "SSEEvent",
    "SSEParser",
    "StreamTranslator",
    "UpstreamRequest",
    "UpstreamTarget",
    "Usage",
    "get_adapter",
]
