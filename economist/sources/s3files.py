"""Reading file-based sources from S3: each object is downloaded to a private temporary file, parsed, and
deleted; a key ending in '/' means every .csv/.csv.gz/.gz/.parquet object under that prefix (CUR 2.0 exports
are split into several files). Credentials are the boto3 client's (standard chain); nothing is stored.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from economist.sources.base import DEFAULT_BATCH_SIZE, BillingSource, SourceBatch, SourceProgress

_DATA_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet", ".snappy.parquet")

FileSourceFactory = Callable[[str, str], BillingSource]  # (local path, display name) -> source


class S3FileSource:
    """A file-based source over one S3 object or every data object under a prefix."""

    def __init__(self, name: str, bucket: str, key: str, *, s3_client: Any, factory: FileSourceFactory):
        self.name = name
        self._bucket = bucket
        self._key = key
        self._s3 = s3_client
        self._factory = factory

    def _objects(self) -> list[tuple[str, int]]:
        if not self._key.endswith("/"):
            head = self._s3.head_object(Bucket=self._bucket, Key=self._key)
            return [(self._key, int(head["ContentLength"]))]
        found: list[tuple[str, int]] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=self._key):
            for item in page.get("Contents", []):
                if item["Key"].lower().endswith(_DATA_SUFFIXES):
                    found.append((item["Key"], int(item["Size"])))
        return sorted(found)

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
        objects = self._objects()
        total = sum(size for _key, size in objects)
        rows_before = 0
        bytes_before = 0
        with tempfile.TemporaryDirectory(prefix="oco-s3-") as folder:
            for index, (key, size) in enumerate(objects):
                path = os.path.join(folder, f"object-{index}")
                with open(path, "wb") as out:
                    self._s3.download_fileobj(self._bucket, key, out)
                source = self._factory(path, f"s3://{self._bucket}/{key}")
                rows_in_file = 0
                for batch in source.batches(batch_size):
                    rows_in_file = batch.progress.rows_read
                    batch.progress = SourceProgress(
                        rows_before + rows_in_file, bytes_before + batch.progress.bytes_read, total
                    )
                    yield batch
                os.unlink(path)
                rows_before += rows_in_file
                bytes_before += size


def make_s3_client(region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client from the standard AWS credential chain (endpoint_url: MinIO, LocalStack, a fake)."""
    import boto3

    return boto3.client("s3", region_name=region, endpoint_url=endpoint_url)
