"""The write a cache miss leaves on its call: where the answer goes, for how long, and the answer as it
is produced (the completion bytes, or the recorder of the stream the client was sent)."""

from __future__ import annotations

from dataclasses import dataclass

from cerebra.cache.assemble import StreamRecorder


@dataclass(slots=True)
class PendingWrite:
    key: str
    ttl_s: int
    max_bytes: int
    completion: bytes | None = None  # a non-streamed answer, as sent
    recorder: StreamRecorder | None = None  # a streamed answer, as sent

    def record_stream(self) -> StreamRecorder:
        self.recorder = StreamRecorder(self.max_bytes)
        return self.recorder
