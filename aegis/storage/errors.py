"""The refusals a storage location gives a request, as kinds of the kernel's error tree."""

from oco.errors import BadGateway, BadRequest, Conflict


class ProbeFailed(BadRequest):
    """A storage location failed its write/read/delete probe (400)."""

    default_code = "probe_failed"


class StorageUnavailable(BadGateway):
    """The storage location did not answer (502; the archive may be fine)."""

    default_code = "storage_unavailable"


class ArchiveLocked(Conflict):
    """The archive is under a retention lock (S3 Object Lock) and cannot be deleted yet (409)."""

    default_code = "archive_locked"
