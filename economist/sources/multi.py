"""Several billing files read as one source (a folder, a manifest, a multipart upload of several files): their
rows one after the other, progress summed, so the parts of an export are one ingestion."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from economist.sources.base import DEFAULT_BATCH_SIZE, BillingSource, SourceBatch, SourceProgress


class MultiFileSource:
    """The parts of one export, in order, as a single BillingSource."""

    def __init__(
        self,
        name: str,
        parts: Sequence[BillingSource],
        *,
        names: Sequence[str] = (),
        bytes_total: int | None = None,
    ) -> None:
        self.name = name
        self.parts = list(parts)
        #: the parts' file names, in order
        self.names = list(names)
        self._bytes_total = bytes_total

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
        rows_before = bytes_before = 0
        for part in self.parts:
            last = SourceProgress()
            for batch in part.batches(batch_size):
                last = batch.progress
                batch.progress = SourceProgress(
                    rows_before + last.rows_read, bytes_before + last.bytes_read, self._bytes_total
                )
                yield batch
            rows_before += last.rows_read
            bytes_before += last.bytes_total if last.bytes_total is not None else last.bytes_read
