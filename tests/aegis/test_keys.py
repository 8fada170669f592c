"""Encryption keys that rotate, without a cluster: key ids in the archive header (version 2), archives of
the old format (version 1, committed test data) still read, the key ring settings and their start-up
validation, and the rekey engine (re-encrypt, verify, never touch the old object) against real storage."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from aegis.archive.crypto import (
    DecryptingReader,
    DecryptionError,
    EncryptingWriter,
    KeyNotConfiguredError,
    generate_key,
    parse_key,
    peek_key_id,
)
from aegis.archive.keys import KeyRing
from aegis.archive.reader import ArchiveIntegrityError, ArchiveKeyMissingError, ArchiveReader
from aegis.archive.writer import ArchiveWriter
from aegis.rekey.engine import RekeyCancelled, RekeyFailed, rekey_archive
from aegis.settings import AegisSettings
from aegis.storage.base import StorageError, StoredObject
from aegis.storage.local import LocalStorage
from oco.settings import SettingsError

DATA = Path(__file__).parent / "data"
V1_ARCHIVE = DATA / "archive-v1-encrypted.tar.gz"
V1_KEY_TEXT = "8CSBd2P+EkRKPaxc4NRR+NsX1dn7bmilfxbe6Ul7ll8="
V1_KEY = base64.b64decode(V1_KEY_TEXT)
V1_SHA256 = "ab7f6b930ccc2b45702366b587ad8daa1fefb00bbb5df88d0cc45b34f1803680"
V1_PATHS = [
    "resources/configmaps/namespaces/shop/settings.json",
    "resources/deployments.apps/namespaces/shop/web.json",
    "resources/namespaces/cluster/shop.json",
]
NEW = parse_key(generate_key())


def write_archive(path: Path, key: bytes | None, key_id: str = "default", n: int = 3) -> str:
    with ArchiveWriter(path, encryption_key=key, key_id=key_id) as writer:
        for i in range(n):
            writer.add_object("configmaps", "", "shop", f"cm-{i}", {"data": {"i": str(i) * 100}})
        return writer.close({"name": path.stem}).sha256


# -- the header names the key ----------------------------------------------------------------------------


def test_old_format_archive_reads_with_the_key_under_any_id() -> None:
    assert hashlib.sha256(V1_ARCHIVE.read_bytes()).hexdigest() == V1_SHA256
    assert peek_key_id(V1_ARCHIVE) == (1, None)
    ring = KeyRing({"2026-12": NEW, "old": V1_KEY}, "2026-12")

    reader = ArchiveReader(V1_ARCHIVE, ring)
    objects = list(reader.objects())

    assert [e.path for e, _ in objects] == V1_PATHS
    assert objects[0][1]["data"] == {"color": "blue"}
    assert reader.key_id == "old" and reader.metadata and reader.metadata["name"] == "v1-fixture"
    assert [e.path for e in ArchiveReader(V1_ARCHIVE, V1_KEY).entries()] == V1_PATHS  # one raw key


def test_old_format_archive_without_its_key_says_wrong_key() -> None:
    with pytest.raises(ArchiveIntegrityError, match="wrong encryption key"):
        list(ArchiveReader(V1_ARCHIVE, KeyRing({"2026-12": NEW}, "2026-12")).entries())


def test_new_archives_name_their_key_and_open_with_it(tmp_path: Path) -> None:
    old = parse_key(generate_key())
    path = tmp_path / "a.tar.gz"
    write_archive(path, NEW, "2026-12")

    assert peek_key_id(path) == (2, "2026-12")
    assert b"2026-12" in path.read_bytes()[:64] and NEW not in path.read_bytes()
    reader = ArchiveReader(path, KeyRing({"2026-06": old, "2026-12": NEW}, "2026-06"))
    assert len(list(reader.entries())) == 3 and reader.key_id == "2026-12"


def test_archive_of_a_key_id_not_configured_names_the_id(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    write_archive(path, NEW, "retired-2025")

    with pytest.raises(ArchiveKeyMissingError, match="'retired-2025'") as caught:
        list(ArchiveReader(path, KeyRing({"2026-12": parse_key(generate_key())}, "2026-12")).entries())
    assert caught.value.key_id == "retired-2025" and "OCO_AEGIS_ENCRYPTION_KEYS" in str(caught.value)
    with open(path, "rb") as f, pytest.raises(KeyNotConfiguredError):
        DecryptingReader(f, KeyRing({"x": NEW}, "x"))


def test_an_edited_key_id_fails_authentication() -> None:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, NEW, 64, key_id="aaaa")
    writer.write(b"secret payload " * 20)
    writer.close()
    blob = sink.getvalue().replace(b"aaaa", b"bbbb", 1)  # point the header at another configured id

    reader = DecryptingReader(io.BytesIO(blob), KeyRing({"aaaa": NEW, "bbbb": NEW}, "aaaa"))
    with pytest.raises(DecryptionError, match="wrong encryption key or altered"):
        reader.read()


@pytest.mark.parametrize("key_id", ["", "a/b", "x" * 65, "spaced id", "ü"])
def test_key_ids_are_short_safe_names(key_id: str) -> None:
    with pytest.raises(ValueError, match="invalid key id"):
        EncryptingWriter(io.BytesIO(), NEW, key_id=key_id)


# -- settings ----------------------------------------------------------------------------------------------


def settings(**values: Any) -> AegisSettings:
    return AegisSettings(_env_file=None, **values)


def test_single_key_setting_is_the_default_id() -> None:
    key = generate_key()
    ring = settings(oco_aegis_encryption_key=key).key_ring()
    assert ring.current_id == "default" and ring.get("default") == parse_key(key)
    assert settings().key_ring().current_id is None and not settings().key_ring()


def test_several_keys_with_one_current() -> None:
    old, new = generate_key(), generate_key()
    ring = settings(
        oco_aegis_encryption_key=old,
        oco_aegis_encryption_keys=f'{{"2026-12": "{new}"}}',
        oco_aegis_encryption_key_current="2026-12",
    ).key_ring()
    assert ring.ids() == ["2026-12", "default"] and ring.current_key == parse_key(new)
    alone = settings(oco_aegis_encryption_keys=f'{{"only": "{new}"}}').key_ring()
    assert alone.current_id == "only"


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    new = generate_key()
    monkeypatch.setenv("OCO_AEGIS_ENCRYPTION_KEYS", f'{{"k1": "{generate_key()}", "k2": "{new}"}}')
    monkeypatch.setenv("OCO_AEGIS_ENCRYPTION_KEY_CURRENT", "k2")
    ring = AegisSettings(_env_file=None).key_ring()
    assert ring.current_id == "k2" and ring.current_key == parse_key(new)


SHORT = base64.b64encode(b"s" * 16).decode()


@pytest.mark.parametrize(
    ("values", "variable", "says"),
    [
        ({"oco_aegis_encryption_key": SHORT}, "OCO_AEGIS_ENCRYPTION_KEY:", "32 bytes, got 16"),
        ({"oco_aegis_encryption_keys": f'{{"a": "{SHORT}"}}'}, "OCO_AEGIS_ENCRYPTION_KEYS:", "key 'a'"),
        ({"oco_aegis_encryption_keys": '{"a": "not base64!!"}'}, "OCO_AEGIS_ENCRYPTION_KEYS:", "base64"),
        ({"oco_aegis_encryption_keys": f"a:{SHORT}"}, "OCO_AEGIS_ENCRYPTION_KEYS:", "JSON object"),
        ({"oco_aegis_encryption_keys": '{"a b": "x"}'}, "OCO_AEGIS_ENCRYPTION_KEYS:", "invalid key id"),
        ({"oco_aegis_encryption_keys": '{"a": 7}'}, "OCO_AEGIS_ENCRYPTION_KEYS:", "base64 string"),
        (
            {"oco_aegis_encryption_keys": f'{{"a": "{generate_key()}", "b": "{generate_key()}"}}'},
            "OCO_AEGIS_ENCRYPTION_KEY_CURRENT:",
            "required",
        ),
        (
            {"oco_aegis_encryption_key": generate_key(), "oco_aegis_encryption_key_current": "nope"},
            "OCO_AEGIS_ENCRYPTION_KEY_CURRENT:",
            "'nope' is not a configured key id (configured: default)",
        ),
        (
            {
                "oco_aegis_encryption_key": generate_key(),
                "oco_aegis_encryption_keys": f'{{"default": "{generate_key()}"}}',
            },
            "OCO_AEGIS_ENCRYPTION_KEYS:",
            "different key",
        ),
    ],
)
def test_bad_key_settings_stop_start_up_with_one_line(
    values: dict[str, str], variable: str, says: str
) -> None:
    from aegis.app import create_app

    with pytest.raises(SettingsError) as caught:
        create_app(settings(**values))
    message = str(caught.value)
    assert message.startswith(variable) and says in message and "\n" not in message
    for secret in values.values():
        if len(secret) > 20 and not secret.startswith("{"):
            assert secret not in message
    for raw in (SHORT, "not base64!!"):
        assert raw not in message  # the key text is never echoed


# -- the rekey engine --------------------------------------------------------------------------------------


OLD = parse_key(generate_key())
RING = KeyRing({"old": OLD, "new": NEW}, "new")


def stored_archive(storage: LocalStorage, tmp: Path, key: str, source: Path | None = None) -> str:
    """Put an archive (``source`` or a fresh one sealed with OLD) into ``storage`` under ``key``."""
    if source is None:
        source = tmp / "src.tar.gz"
        write_archive(source, OLD, "old")
    return storage.put_file(source, key).sha256


def test_rekey_moves_an_archive_to_the_current_key(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    sha = stored_archive(storage, tmp_path, "backups/b1/b1.tar.gz")
    before = (storage.root / "backups/b1/b1.tar.gz").read_bytes()

    done = rekey_archive(storage, "backups/b1/b1.tar.gz", sha, "b1", RING, work_dir=tmp_path)

    assert done.storage_key.startswith("backups/b1/b1.new.") and done.storage_key != "backups/b1/b1.tar.gz"
    assert done.key_id == "new" and done.from_key_id == "old" and done.members == 5
    assert (storage.root / "backups/b1/b1.tar.gz").read_bytes() == before  # the old object is not touched
    new_file = storage.root / done.storage_key
    assert hashlib.sha256(new_file.read_bytes()).hexdigest() == done.sha256
    assert peek_key_id(new_file) == (2, "new")
    only_new = ArchiveReader(new_file, KeyRing({"new": NEW}, "new"))
    assert [e.name for e in only_new.entries()] == ["cm-0", "cm-1", "cm-2"]
    assert not list(tmp_path.glob("aegis-rekey-*"))  # temporary files are gone


def test_rekey_of_an_old_format_archive(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    sha = stored_archive(storage, tmp_path, "backups/v1/v1.tar.gz", V1_ARCHIVE)

    done = rekey_archive(
        storage, "backups/v1/v1.tar.gz", sha, "v1", KeyRing({"v1": V1_KEY, "new": NEW}, "new")
    )

    assert done.from_key_id == "v1"
    reader = ArchiveReader(storage.root / done.storage_key, KeyRing({"new": NEW}, "new"))
    assert [e.path for e in reader.entries()] == V1_PATHS


def test_rekey_encrypts_an_unencrypted_archive(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    plain = tmp_path / "plain.tar.gz"
    write_archive(plain, None)
    sha = stored_archive(storage, tmp_path, "backups/p/p.tar.gz", plain)

    done = rekey_archive(storage, "backups/p/p.tar.gz", sha, "p", RING)

    assert done.from_key_id is None and peek_key_id(storage.root / done.storage_key) == (2, "new")


class CorruptingStorage(LocalStorage):
    """A store that keeps altered bytes (bit rot, a lying gateway): what it returns is not what was sent."""

    def put_file(
        self, local_path: str | os.PathLike[str], key: str, *, sha256: str | None = None
    ) -> StoredObject:
        stored = super().put_file(local_path, key, sha256=sha256)
        if not key.endswith("b1.tar.gz"):
            path = self.root / key
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0x01
            path.write_bytes(bytes(data))
        return stored


class FailingUploads(LocalStorage):
    def put_file(
        self, local_path: str | os.PathLike[str], key: str, *, sha256: str | None = None
    ) -> StoredObject:
        if not key.endswith("b1.tar.gz"):
            raise StorageError(f"upload of {key} failed: connection reset")
        return super().put_file(local_path, key, sha256=sha256)


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("storage_type", "says"),
    [(CorruptingStorage, "verification of the stored copy failed"), (FailingUploads, "connection reset")],
)
def test_rekey_that_fails_keeps_the_old_object_and_leaves_nothing(
    tmp_path: Path, storage_type: type[LocalStorage], says: str
) -> None:
    storage = storage_type(tmp_path / "store")
    sha = stored_archive(storage, tmp_path, "backups/b1/b1.tar.gz")
    before = (storage.root / "backups/b1/b1.tar.gz").read_bytes()

    with pytest.raises(RekeyFailed, match=says):
        rekey_archive(storage, "backups/b1/b1.tar.gz", sha, "b1", RING, work_dir=tmp_path)

    assert listing(storage.root) == ["backups/b1/b1.tar.gz"]  # the new object was removed again
    assert (storage.root / "backups/b1/b1.tar.gz").read_bytes() == before
    assert not list(tmp_path.glob("aegis-rekey-*"))


def test_rekey_refuses_an_archive_that_does_not_verify(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    sha = stored_archive(storage, tmp_path, "backups/b1/b1.tar.gz")

    with pytest.raises(RekeyFailed, match="checksum mismatch"):
        rekey_archive(storage, "backups/b1/b1.tar.gz", "0" * 64, "b1", RING)
    with pytest.raises(RekeyFailed, match="key id 'old', which is not configured"):
        rekey_archive(storage, "backups/b1/b1.tar.gz", sha, "b1", KeyRing({"x": NEW}, "x"))
    with pytest.raises(RekeyFailed, match="wrong encryption key"):  # the id, but another key under it
        rekey_archive(storage, "backups/b1/b1.tar.gz", sha, "b1", KeyRing({"old": NEW}, "old"))
    assert listing(storage.root) == ["backups/b1/b1.tar.gz"]


def test_cancelled_rekey_uploads_nothing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    sha = stored_archive(storage, tmp_path, "backups/b1/b1.tar.gz")
    cancel = threading.Event()
    cancel.set()

    with pytest.raises(RekeyCancelled):
        rekey_archive(storage, "backups/b1/b1.tar.gz", sha, "b1", RING, cancel=cancel, work_dir=tmp_path)
    assert listing(storage.root) == ["backups/b1/b1.tar.gz"] and not list(tmp_path.glob("aegis-rekey-*"))


def test_rekey_streams_a_large_archive_in_chunks(tmp_path: Path) -> None:
    """A 12 MB archive is rekeyed with Python's peak allocation far below its size: it is streamed a
    chunk at a time through temporary files, never read whole."""
    source = tmp_path / "big.tar.gz"
    with ArchiveWriter(source, encryption_key=OLD, key_id="old", compresslevel=1) as writer:
        for i in range(40):
            writer.add_object("configmaps", "", "shop", f"cm-{i}", {"blob": os.urandom(256 * 1024).hex()})
        writer.close({})
    storage = LocalStorage(tmp_path / "store")
    sha = stored_archive(storage, tmp_path, "backups/big/big.tar.gz", source)

    tracemalloc.start()
    try:
        done = rekey_archive(storage, "backups/big/big.tar.gz", sha, "big", RING, work_dir=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert done.members == 42 and done.size_bytes > 10 * 1024 * 1024
    print(f"rekey of {done.size_bytes} bytes: python peak {peak} bytes")
    assert peak < done.size_bytes / 2, f"peak {peak} bytes for a {done.size_bytes}-byte archive"


def test_the_service_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    """`python -m aegis` with a short key: exit status 2 and one line naming the variable, not the key."""
    short = base64.b64encode(b"k" * 20).decode()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OCO_", "POSTGRES_", "REDIS_"))},
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "OCO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'oco.db'}",
        "OCO_AEGIS_ENCRYPTION_KEYS": json.dumps({"2026-12": short}),
    }
    done = subprocess.run(
        [sys.executable, "-m", "aegis", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: OCO_AEGIS_ENCRYPTION_KEYS: key '2026-12': encryption key must decode to 32 bytes, got 20"
    )
    assert short not in done.stderr + done.stdout and "Traceback" not in done.stderr
