"""Streaming reader for billing files: CSV, gzip-compressed CSV (detected by magic bytes) and Parquet, from a
path or a binary file object, yielding (line, values) with byte progress and never reading the whole file.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
from collections.abc import Iterator
from typing import IO, Any, Literal

from economist.sources.base import SourceProgress, SourceRowError
from economist.sources.limits import bounded

FileFormat = Literal["csv", "csv.gz", "parquet"]
PathOrFile = str | os.PathLike[str] | IO[bytes]

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_PARQUET_READ_ROWS = 10_000


class _CountingReader(io.RawIOBase):
    """A raw reader over a binary stream that counts the bytes handed out (after an optional prefix)."""

    def __init__(self, stream: IO[bytes], prefix: bytes = b"") -> None:
        self._stream = stream
        self._prefix = prefix
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
        else:
            data = self._stream.read(len(view))
            n = len(data)
            view[:n] = data
        self.count += n
        return n


def display_name(source: PathOrFile, filename: str | None) -> str:
    """The name errors show: the given filename, else the path, else the file object's name."""
    if filename:
        return filename
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<upload>"


class TabularReader:
    """One pass over a billing file. Use as a context manager; then read `header` and iterate `records()`.

    Lines are 1-based with the header on line 1; a CSV record spanning several physical lines is reported
    at its first line. Parquet records are numbered as if the file were a CSV (first record = line 2).
    """

    def __init__(self, source: PathOrFile, *, filename: str | None = None) -> None:
        self.name = display_name(source, filename)
        self.progress = SourceProgress()
        self.format: FileFormat = "csv"
        self.header: list[str] = []
        self._source = source
        self._owned: IO[bytes] | None = None
        self._stream: IO[bytes] | None = None
        self._counter: _CountingReader | None = None
        self._text: io.TextIOWrapper | None = None
        self._parquet: Any = None
        self._csv: Any = None
        self._pending: list[str] | None = None
        self._line = 1

    # -- opening -----------------------------------------------------------------------------------------

    def __enter__(self) -> TabularReader:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for closable in (self._text, self._owned):
            if closable is not None:
                with contextlib.suppress(Exception):  # closing after a failure must not mask it
                    closable.close()
        self._text = None
        self._owned = None

    def _open(self) -> None:
        if isinstance(self._source, str | os.PathLike):
            self._owned = open(self._source, "rb")  # noqa: SIM115 - closed in close()
            stream: IO[bytes] = self._owned
            self.progress.bytes_total = os.fstat(stream.fileno()).st_size
        else:
            stream = self._source
            if stream.seekable():
                start = stream.tell()
                self.progress.bytes_total = stream.seek(0, io.SEEK_END) - start
                stream.seek(start)
        self._stream = stream
        prefix = b""
        if stream.seekable():
            start = stream.tell()
            magic = stream.read(4)
            stream.seek(start)
        else:
            magic = prefix = stream.read(4)
        if magic.startswith(_PARQUET_MAGIC):
            self._open_parquet(stream)
            return
        self._counter = _CountingReader(stream, prefix)
        buffered = io.BufferedReader(self._counter, buffer_size=256 * 1024)
        binary: IO[bytes] | gzip.GzipFile = buffered
        if magic.startswith(_GZIP_MAGIC):
            self.format = "csv.gz"
            binary = gzip.GzipFile(fileobj=buffered, mode="rb")
        # bounded while streaming (decompressed size, line length): a bomb fails with the reason
        self._text = io.TextIOWrapper(bounded(binary), encoding="utf-8-sig", newline="")
        self._csv = csv.reader(self._text, strict=True)
        try:
            header = next(self._csv, None)
        except (UnicodeDecodeError, csv.Error, EOFError, OSError) as exc:
            raise SourceRowError(self.name, 1, "*", f"unreadable header: {_why(exc)}") from None
        if not header:
            raise SourceRowError(self.name, 1, "*", "empty file: no header")
        self.header = [h.lstrip("\ufeff").strip() for h in header]
        self._line = self._csv.line_num

    def _open_parquet(self, stream: IO[bytes]) -> None:
        import pyarrow.parquet as pq

        if not stream.seekable():
            raise SourceRowError(self.name, 1, "*", "Parquet needs a seekable file")
        self.format = "parquet"
        try:
            self._parquet = pq.ParquetFile(stream)
        except Exception as exc:
            raise SourceRowError(self.name, 1, "*", f"unreadable Parquet file: {_why(exc)}") from None
        self.header = list(self._parquet.schema_arrow.names)

    # -- reading -----------------------------------------------------------------------------------------

    def records(self) -> Iterator[tuple[int, list[Any]]]:
        """(line, values) per data record; values align with header (CSV: str, Parquet: python values)."""
        if self._parquet is not None:
            yield from self._parquet_records()
        else:
            yield from self._csv_records()

    def _csv_records(self) -> Iterator[tuple[int, list[Any]]]:
        reader = self._csv
        width = len(self.header)
        while True:
            line = self._line + 1
            try:
                values = next(reader)
            except StopIteration:
                break
            except (UnicodeDecodeError, csv.Error, EOFError, OSError) as exc:
                raise SourceRowError(self.name, line, "*", f"unreadable record: {_why(exc)}") from None
            self._line = reader.line_num
            self.progress.bytes_read = self._counter.count if self._counter else 0
            if len(values) != width:
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue  # a blank line
                column = self.header[len(values)] if len(values) < width else "*"
                raise SourceRowError(
                    self.name, line, column, f"record has {len(values)} fields, the header has {width}"
                )
            yield line, values
        if self.progress.bytes_total is not None:
            self.progress.bytes_read = self.progress.bytes_total

    def _parquet_records(self) -> Iterator[tuple[int, list[Any]]]:
        pf = self._parquet
        total_rows = pf.metadata.num_rows or 1
        line = 1
        done = 0
        try:
            for batch in pf.iter_batches(batch_size=_PARQUET_READ_ROWS):
                columns = [_python_values(column) for column in batch.columns]
                for values in zip(*columns, strict=True):
                    line += 1
                    yield line, list(values)
                done += batch.num_rows
                if self.progress.bytes_total is not None:
                    self.progress.bytes_read = self.progress.bytes_total * done // total_rows
        except SourceRowError:
            raise
        except (OSError, ValueError) as exc:
            raise SourceRowError(self.name, line + 1, "*", f"unreadable Parquet data: {_why(exc)}") from None


def _python_values(column: Any) -> list[Any]:
    """A Parquet column's values for the row parser. Float32/16 numbers come as their shortest text (0.1f is
    "0.1", as the vectorized reader writes it), not widened to a double's digits (0.10000000149011612)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_float32(column.type) or pa.types.is_float16(column.type):
        return pc.cast(column, pa.string()).to_pylist()
    return column.to_pylist()


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
