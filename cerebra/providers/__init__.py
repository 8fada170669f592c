"""Provider adapters: translation between the OpenAI wire format and OpenAI-compatible servers,
Anthropic's Messages API, Google's Gemini API and the built-in mock (no HTTP here; the gateway sends)."""

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
from cerebra.providers.mock import MockAdapter
from cerebra.providers.openai import OpenAIAdapter
from cerebra.providers.sse import SSEEvent, SSEParser

_ADAPTERS: dict[str, ProviderAdapter] = {
    "openai": OpenAIAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "mock": MockAdapter(),
}

PROVIDERS = frozenset(_ADAPTERS)
NATIVE_PROVIDERS = frozenset({"openai", "anthropic", "gemini"})  # served under /v1/<provider>/...


def get_adapter(provider_name: str) -> ProviderAdapter:
    """The (stateless, shared) adapter of a provider; ValueError for an unknown name."""
    try:
        return _ADAPTERS[provider_name]
    except KeyError:
        raise ValueError(
            f"unknown provider {provider_name!r} (expected one of {sorted(_ADAPTERS)})"
        ) from None


__all__ = [
    "NATIVE_PROVIDERS",
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
