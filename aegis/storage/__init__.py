"""Storage locations for backup archives (local directory, S3); build one with storage_from_spec()."""

from aegis.storage.base import (
    ObjectLockedError,
    ObjectNotFoundError,
    ProbeResult,
    StorageBackend,
    StorageConfigError,
    StorageError,
    StoredObject,
)
from aegis.storage.factory import storage_from_spec

__all__ = [
    "ObjectLockedError",
    "ObjectNotFoundError",
    "ProbeResult",
    "StorageBackend",
    "StorageConfigError",
    "StorageError",
    "StoredObject",
    "storage_from_spec",
]
