"""An in-process stand-in for the upstream HTTP session: the slice of aiohttp's ClientSession/ClientResponse
the attempt loop and the relay use, answered by the mock provider's backend without a network hop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from cerebra.providers.mock import MockAnswer, MockBackend


class _Content:
    """`response.content`: the whole body at once, or the SSE frames one by one."""

    def __init__(self, answer: MockAnswer) -> None:
        self._answer = answer

    async def read(self, n: int = -1) -> bytes:
        body = self._answer.body if self._answer.frames is None else b"".join(self._answer.frames)
        return body if n < 0 else body[:n]

    async def iter_any(self) -> AsyncIterator[bytes]:
        for frame in self._answer.frames if self._answer.frames is not None else [self._answer.body]:
            yield frame
            await asyncio.sleep(0)  # chunk by chunk, as a real stream arrives


class InProcessResponse:
    """What `InProcessSession.request` returns (status, headers, body readers, release/close)."""

    def __init__(self, answer: MockAnswer) -> None:
        self.status = answer.status
        self.headers = {"content-type": answer.content_type}
        self.content = _Content(answer)

    async def read(self) -> bytes:
        return await self.content.read()

    def release(self) -> None:
        return None

    def close(self) -> None:
        return None


class InProcessSession:
    """Serves the mock provider's requests in-process; `closed` and `close()` as aiohttp's session."""

    closed = False

    def __init__(self, backend: MockBackend | None = None) -> None:
        self.backend = backend or MockBackend()

    async def request(
        self, method: str, url: str, *, data: bytes | None = None, **_: Any
    ) -> InProcessResponse:
        return InProcessResponse(self.backend.answer(method, url, data))

    async def close(self) -> None:
        return None
