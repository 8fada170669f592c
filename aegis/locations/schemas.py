"""Request and response models of /api/v1/storage-locations (credentials are never accepted or shown)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aegis.backups.naming import NAME_MAX, NAME_PATTERN
from oco.pagination import Page
from oco.timeutil import as_utc

_LOCAL_FIELDS = ("path",)
REGION_PATTERN = r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
_S3_FIELDS = ("bucket", "prefix", "region", "endpoint_url", "object_lock_days", "object_lock_mode")


class LocationCreate(BaseModel):
    """`{"name", "type": "local", "path"}` or `{"name", "type": "s3", "bucket", "prefix", "region",
    "endpoint_url", "object_lock_days", "object_lock_mode"}`. S3 credentials come from the service's
    environment (boto3's default chain). With `object_lock_days` every archive is uploaded under S3 Object
    Lock retention for that many days (`object_lock_mode` COMPLIANCE, the default, or GOVERNANCE); the
    bucket must have Object Lock enabled (the probe checks)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, max_length=NAME_MAX)
    type: Literal["local", "s3"]
    path: str | None = Field(default=None, min_length=1, max_length=1000)
    bucket: str | None = Field(default=None, min_length=3, max_length=63)
    prefix: str | None = Field(default=None, max_length=500)
    #: an AWS-style region name (what botocore accepts): letters, digits and inner hyphens
    region: str | None = Field(default=None, pattern=REGION_PATTERN, max_length=63)
    endpoint_url: str | None = Field(default=None, max_length=500)
    object_lock_days: int | None = Field(default=None, ge=1, le=36500, strict=True)
    object_lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] | None = None

    @field_validator("path")
    @classmethod
    def _path_is_printable(cls, value: str | None) -> str | None:
        """No NUL or other control character: no file system takes them (the value is not echoed)."""
        if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("path must not contain control characters (NUL, newline, ...)")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_without_credentials(cls, value: str | None) -> str | None:
        """An http(s) URL with a host and no user info: credentials come from the environment and are
        never stored or shown (the value is not echoed in the error)."""
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ValueError("endpoint_url is not a valid URL") from None
        if "@" in parts.netloc:
            raise ValueError(
                "endpoint_url must not carry credentials (user:secret@); S3 credentials come from the"
                " service's environment"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("endpoint_url must be an http:// or https:// URL with a host")
        return value

    @model_validator(mode="after")
    def _fields_of_type(self) -> LocationCreate:
        own, other = (_LOCAL_FIELDS, _S3_FIELDS) if self.type == "local" else (_S3_FIELDS, _LOCAL_FIELDS)
        stray = [f for f in other if getattr(self, f) is not None]
        if stray:
            raise ValueError(f"{', '.join(stray)} not allowed for a {self.type} location")
        required = "path" if self.type == "local" else "bucket"
        if getattr(self, required) is None:
            raise ValueError(f"a {self.type} location needs '{required}'")
        if self.object_lock_mode is not None and self.object_lock_days is None:
            raise ValueError("object_lock_mode needs object_lock_days")
        return self

    def config(self) -> dict[str, Any]:
        """The settings stored with the location (everything but name and type)."""
        fields = _LOCAL_FIELDS if self.type == "local" else _S3_FIELDS
        config = {f: getattr(self, f) for f in fields if getattr(self, f) is not None}
        if self.object_lock_days is not None:
            config["object_lock_mode"] = self.object_lock_mode or "COMPLIANCE"
        return config


class Location(BaseModel):
    """A registered storage location."""

    id: int
    name: str
    type: Literal["local", "s3"]
    path: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    object_lock_days: int | None = None
    object_lock_mode: str | None = None
    created_by: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Location:
        config = row["config"] or {}
        return cls(
            id=row["id"],
            name=row["name"],
            type=row["type"],
            **{k: config.get(k) for k in (*_LOCAL_FIELDS, *_S3_FIELDS) if k != "endpoint_url"},
            endpoint_url=_without_userinfo(config.get("endpoint_url")),
            created_by=row["created_by"],
            created_at=as_utc(row["created_at"]),
        )


class LocationList(Page[Location]):
    """A page of storage locations by name."""


def _without_userinfo(url: str | None) -> str | None:
    """A stored endpoint URL with any user info dropped (rows written before it was refused)."""
    if not url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
