"""Aegis's settings: the platform's plus the `OCO_AEGIS_*` names (clusters file, encryption, workers, scheduler,
where local storage locations may live)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, SecretStr

from aegis.archive.crypto import EncryptionKeyError, parse_key
from aegis.archive.keys import DEFAULT_KEY_ID, KeyRing, validate_key_id
from aegis.kube.clusters import ClusterConfigError, ClusterRegistry
from aegis.kube.transport import RetryPolicy
from oco.settings import PlatformSettings, SettingsError


class AegisSettings(PlatformSettings):
    """Where the clusters are, how archives are protected, and how runs and the scheduler behave.

    ``OCO_AEGIS_LOCAL_ROOTS``: comma-separated directories (e.g. ``/var/lib/aegis,/mnt/backups``), by default
    the data directory (``OCO_DATA_DIR``). A ``local`` storage location must resolve (symlinks followed) to
    one of them or below, else it is refused with 422; it is stored as that absolute path, and re-checked
    at each use, so a location created before the roots changed fails clearly instead of being used.
    ``OCO_AEGIS_STALE_AFTER_S`` is also the TTL of this process's owner lease in the kv and the age after
    which stale temporary files of runs (``aegis-backup-*``, ...) in the work directory are removed at start-up.
    """

    #: YAML file: `clusters: {prod: {kubeconfig: /path, context: ctx}, here: {in_cluster: true}}`.
    oco_aegis_clusters: Path | None = None
    #: base64 of 32 bytes; archives are AES-256-GCM encrypted when set. It is the key of id "default".
    oco_aegis_encryption_key: SecretStr | None = Field(default=None, repr=False)
    #: a JSON object of key id -> base64 of 32 bytes, e.g. {"2026-06": "...", "2026-12": "..."}.
    oco_aegis_encryption_keys: SecretStr | None = Field(default=None, repr=False)
    #: the id new archives are sealed with (required when more than one key is configured).
    oco_aegis_encryption_key_current: str | None = None
    #: fail closed: refuse to write an unencrypted backup when no key is configured.
    oco_aegis_require_encryption: bool = False
    #: concurrent API requests within one tier of a restore.
    oco_aegis_restore_workers: int = Field(default=8, ge=1, le=64)
    oco_aegis_max_concurrent_backups: int = Field(default=2, ge=1)
    oco_aegis_max_concurrent_restores: int = Field(default=2, ge=1)
    #: TTL of a backup whose request names none (Velero's default: 30 days); 0 keeps backups forever.
    oco_aegis_default_ttl_hours: int = Field(default=720, ge=0)
    oco_aegis_scheduler_enabled: bool = True
    oco_aegis_scheduler_interval_s: float = Field(default=30.0, gt=0)
    #: how often live progress (items_done/items_total) is written to a running record.
    oco_aegis_progress_interval_s: float = Field(default=1.0, gt=0)
    #: a New/InProgress record whose heartbeat is older than this was left by a dead process.
    oco_aegis_stale_after_s: float = Field(default=120.0, gt=0)
    #: how long shutdown waits for cancelled runs to stop before marking them interrupted anyway.
    oco_aegis_shutdown_grace_s: float = Field(default=10.0, ge=0)
    #: where archives are staged before upload / after download (default: the system temp dir).
    oco_aegis_work_dir: Path | None = None
    #: comma-separated directories local storage locations must be under (unset: the data directory).
    oco_aegis_local_roots: str | None = None
    #: hosts, addresses or CIDRs an S3 location's endpoint_url may reach although they are not public
    #: (loopback, private, link-local): e.g. `minio,10.0.0.0/8`; everything else non-public is refused
    oco_aegis_s3_endpoint_allow: str = ""
    oco_aegis_cluster_check_timeout_s: float = Field(default=5.0, gt=0)
    #: attempts per API server request on 429/5xx/connection errors (exponential backoff in between).
    oco_aegis_kube_max_attempts: int = Field(default=6, ge=1, le=20)

    def encryption_key(self) -> bytes | None:
        """The raw current AES key, or None (see :meth:`key_ring`)."""
        return self.key_ring().current_key

    def key_ring(self) -> KeyRing:
        """The configured keys by id and the current one; a malformed setting stops start-up with one line
        naming the variable (never the key). ``OCO_AEGIS_ENCRYPTION_KEY`` is the key of id ``default``,
        ``OCO_AEGIS_ENCRYPTION_KEYS`` adds keys by id, ``OCO_AEGIS_ENCRYPTION_KEY_CURRENT`` names the one new
        archives are sealed with (it may be left out when only one key is configured)."""
        keys: dict[str, bytes] = {}
        single = _secret(self.oco_aegis_encryption_key)
        if single:
            try:
                keys[DEFAULT_KEY_ID] = parse_key(single)
            except EncryptionKeyError as exc:
                raise SettingsError(f"OCO_AEGIS_ENCRYPTION_KEY: {exc}") from None
        for key_id, key in _parse_keys(_secret(self.oco_aegis_encryption_keys)).items():
            if key_id in keys and keys[key_id] != key:
                raise SettingsError(
                    f"OCO_AEGIS_ENCRYPTION_KEYS: key id {key_id!r} is also OCO_AEGIS_ENCRYPTION_KEY's id, with a"
                    " different key; use another id or drop one of them"
                )
            keys[key_id] = key
        current = (self.oco_aegis_encryption_key_current or "").strip() or None
        if current is None:
            if len(keys) > 1:
                raise SettingsError(
                    f"OCO_AEGIS_ENCRYPTION_KEY_CURRENT: required when more than one key is configured"
                    f" (configured ids: {', '.join(sorted(keys))})"
                )
            current = next(iter(keys), None)
        elif current not in keys:
            known = ", ".join(sorted(keys)) or "none"
            raise SettingsError(
                f"OCO_AEGIS_ENCRYPTION_KEY_CURRENT: {current!r} is not a configured key id (configured: {known})"
            )
        return KeyRing(keys, current)

    def local_roots(self) -> list[Path]:
        """The resolved OCO_AEGIS_LOCAL_ROOTS; unset or empty: the data directory (OCO_DATA_DIR)."""
        roots = (self.oco_aegis_local_roots or "").strip()
        if not roots:
            return [self.oco_data_dir.expanduser().resolve()]
        return [Path(p.strip()).expanduser().resolve() for p in roots.split(",") if p.strip()]

    def kube_retry(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.oco_aegis_kube_max_attempts)

    def cluster_registry(self) -> ClusterRegistry:
        """The clusters of OCO_AEGIS_CLUSTERS (none when unset); a broken file stops start-up."""
        if self.oco_aegis_clusters is None:
            return ClusterRegistry({})
        try:
            return ClusterRegistry.from_file(self.oco_aegis_clusters)
        except ClusterConfigError as exc:
            raise SettingsError(f"OCO_AEGIS_CLUSTERS: {exc}") from None


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value().strip() if value is not None else ""


def _parse_keys(text: str) -> dict[str, bytes]:
    """OCO_AEGIS_ENCRYPTION_KEYS: ``{"<id>": "<base64 of 32 bytes>", ...}``; errors name ids, never keys."""
    if not text:
        return {}
    example = '{"2026-12": "<base64 of 32 bytes>"}'
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not data:
        raise SettingsError(
            f"OCO_AEGIS_ENCRYPTION_KEYS: expected a JSON object of key id -> key, e.g. {example}"
        )
    keys: dict[str, bytes] = {}
    for key_id, value in data.items():
        try:
            validate_key_id(key_id)
        except ValueError as exc:
            raise SettingsError(f"OCO_AEGIS_ENCRYPTION_KEYS: {exc}") from None
        if not isinstance(value, str):
            raise SettingsError(f"OCO_AEGIS_ENCRYPTION_KEYS: key {key_id!r} must be a base64 string")
        try:
            keys[key_id] = parse_key(value)
        except EncryptionKeyError as exc:
            raise SettingsError(f"OCO_AEGIS_ENCRYPTION_KEYS: key {key_id!r}: {exc}") from None
    return keys
