"""Archive writer/reader and the chunked AES-256-GCM stream, without a cluster."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import orjson
import pytest

from aegis.archive.crypto import (
    TAG_SIZE,
    DecryptingReader,
    DecryptionError,
    EncryptingWriter,
    EncryptionKeyError,
    generate_key,
    header_size,
    parse_key,
)
from aegis.archive.layout import ArchiveEntry, LayoutError, object_path, parse_object_path
from aegis.archive.reader import ArchiveIntegrityError, ArchiveReader, copy_verified
from aegis.archive.writer import ArchiveWriter

KEY = parse_key(generate_key())
CHUNK = 64


def encrypt(data: bytes, key: bytes = KEY, chunk: int = CHUNK) -> bytes:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, key, chunk)
    for i in range(0, len(data), 7):  # odd write sizes
        writer.write(data[i : i + 7])
    writer.close()
    return sink.getvalue()


def decrypt(blob: bytes, key: bytes = KEY, read_size: int = 5) -> bytes:
    reader = DecryptingReader(io.BytesIO(blob), key)
    out = bytearray()
    while part := reader.read(read_size):
        out += part
    return bytes(out)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 10 * CHUNK + 13])
def test_encryption_round_trip_at_chunk_boundaries(size: int) -> None:
    data = os.urandom(size)

    blob = encrypt(data)

    chunks = max(1, -(-size // CHUNK))
    assert len(blob) == header_size() + size + chunks * TAG_SIZE
    assert decrypt(blob) == data
    assert DecryptingReader(io.BytesIO(blob), KEY).read() == data


def chunks_of(blob: bytes) -> tuple[bytes, list[bytes]]:
    body = blob[header_size() :]
    sealed = CHUNK + TAG_SIZE
    return blob[: header_size()], [body[i : i + sealed] for i in range(0, len(body), sealed)]


def test_wrong_key_is_refused() -> None:
    blob = encrypt(b"secret" * 100)

    with pytest.raises(DecryptionError, match="wrong encryption key"):
        decrypt(blob, key=parse_key(generate_key()))


@pytest.mark.parametrize("attack", ["drop-last", "truncate-at-boundary", "reorder", "flip", "splice"])
def test_tampering_with_chunks_is_detected(attack: str) -> None:
    data = os.urandom(5 * CHUNK + 10)
    header, chunks = chunks_of(encrypt(data))
    if attack == "drop-last":
        blob = header + b"".join(chunks[:-1])
    elif attack == "truncate-at-boundary":
        blob = header + b"".join(chunks[:3])
    elif attack == "reorder":
        blob = header + b"".join([chunks[1], chunks[0], *chunks[2:]])
    elif attack == "flip":
        middle = bytearray(chunks[2])
        middle[5] ^= 0x80
        blob = header + b"".join([*chunks[:2], bytes(middle), *chunks[3:]])
    else:  # a chunk from another archive encrypted with the same key
        _, other = chunks_of(encrypt(os.urandom(5 * CHUNK + 10)))
        blob = header + b"".join([*chunks[:2], other[2], *chunks[3:]])

    with pytest.raises(DecryptionError):
        decrypt(blob)


def test_parse_key_never_echoes_the_key() -> None:
    raw = os.urandom(32)
    assert parse_key(base64.b64encode(raw).decode()) == raw
    assert parse_key(base64.urlsafe_b64encode(raw)) == raw
    short = base64.b64encode(b"0123456789").decode()
    with pytest.raises(EncryptionKeyError) as info:
        parse_key(short)
    assert short not in str(info.value) and "32 bytes" in str(info.value)
    with pytest.raises(EncryptionKeyError):
        parse_key("not base64 !!")


def test_layout_paths_both_ways() -> None:
    path = object_path("deployments", "apps", "shop", "web")
    assert path == "resources/deployments.apps/namespaces/shop/web.json"
    assert parse_object_path(path) == ArchiveEntry("deployments", "apps", "shop", "web", path)
    cluster = object_path("clusterroles", "rbac.authorization.k8s.io", None, "system:admin")
    assert cluster == "resources/clusterroles.rbac.authorization.k8s.io/cluster/system:admin.json"
    assert parse_object_path(cluster).namespace is None  # type: ignore[union-attr]
    velero = "resources/configmaps/v1-preferredversion/namespaces/a/b.json"
    assert parse_object_path(velero) == ArchiveEntry("configmaps", "", "a", "b", velero)
    assert parse_object_path("resources/configmaps/v2beta1/namespaces/a/b.json") is None
    assert parse_object_path("metadata.json") is None
    for bad in ("../x", "a/b", ".."):
        with pytest.raises(LayoutError):
            object_path("configmaps", "", "ns", bad)


def write_sample(path: Path, key: bytes | None = None, count: int = 50) -> str:
    with ArchiveWriter(path, encryption_key=key, chunk_size=1024) as writer:
        for i in range(count):
            obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "a"}}
            writer.add_object(
                "configmaps", "", "a", f"cm-{i}", {**obj, "data": {"blob": os.urandom(200).hex()}}
            )
        writer.add_object(
            "namespaces", "", None, "a", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}
        )
        info = writer.close({"name": "sample", "resources": {"configmaps": {"kind": "ConfigMap"}}})
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.size_bytes == path.stat().st_size and info.objects == count + 1
    return info.sha256


@pytest.mark.parametrize("encrypted", [False, True])
def test_reader_lists_and_iterates(tmp_path: Path, encrypted: bool) -> None:
    path = tmp_path / "a.tar.gz"
    write_sample(path, KEY if encrypted else None)

    reader = ArchiveReader(path, KEY if encrypted else None)
    contents = reader.contents()
    objects = list(reader.objects())

    assert reader.encrypted is encrypted
    assert len(contents.entries) == 51 and contents.metadata["name"] == "sample"
    assert contents.entries[0] == ArchiveEntry(
        "configmaps", "", "a", "cm-0", "resources/configmaps/namespaces/a/cm-0.json"
    )
    assert contents.entries[-1].namespace is None
    assert [e for e, _ in objects] == contents.entries
    assert objects[3][1]["metadata"]["name"] == "cm-3"


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_reader_detects_damage_without_a_checksum(tmp_path: Path, encrypted: bool, damage: str) -> None:
    """Even if a checksum were skipped, gzip CRC / GCM tags and the trailing metadata catch damage."""
    path = tmp_path / "a.tar.gz"
    write_sample(path, KEY if encrypted else None, count=200)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) * 2 // 3]
    else:
        data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))

    with pytest.raises(ArchiveIntegrityError):
        list(ArchiveReader(path, KEY if encrypted else None).objects())


def test_copy_verified_refuses_a_mismatch_and_keeps_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    digest = write_sample(path)
    good, bad = tmp_path / "good", tmp_path / "bad"

    assert copy_verified(io.BytesIO(path.read_bytes()), good, digest) == path.stat().st_size
    with pytest.raises(ArchiveIntegrityError, match="checksum mismatch"):
        copy_verified(io.BytesIO(path.read_bytes()[:-1]), bad, digest)
    assert good.exists() and not bad.exists()


def test_encrypted_archive_needs_a_key(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    write_sample(path, KEY)

    with pytest.raises(ArchiveIntegrityError, match="no encryption key"):
        ArchiveReader(path)
    with pytest.raises(ArchiveIntegrityError, match="wrong encryption key"):
        list(ArchiveReader(path, parse_key(generate_key())).entries())


def test_aborted_writer_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    with pytest.raises(RuntimeError), ArchiveWriter(path) as writer:
        writer.add_object("configmaps", "", "a", "x", {"metadata": {"name": "x"}})
        raise RuntimeError("boom")
    assert not path.exists()


def test_tar_headers_for_short_long_and_odd_names(tmp_path: Path) -> None:
    """The hand-built ustar headers (and the PAX fallback) read back with tarfile and GNU tar."""
    long_ns, long_name = "n" * 63, "x" * 90
    names = {
        ("configmaps", "", "a", "short"),
        ("widgets", "example.com", long_ns, long_name),  # > 100 bytes: ustar prefix split
        ("things", "k" * 60 + ".example.com", long_ns, "y" * 120),  # too long for ustar: PAX
        ("configmaps", "", "a", "caf\u00e9"),  # not ASCII: PAX
    }
    path = tmp_path / "names.tar.gz"
    with ArchiveWriter(path) as writer:
        for resource, group, ns, name in names:
            writer.add_object(resource, group, ns, name, {"metadata": {"name": name}})
        writer.close({"name": "n"})

    expected = {object_path(*n) for n in names}
    with tarfile.open(path, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert expected <= set(members)
        for name in expected:
            assert orjson.loads(tar.extractfile(members[name]).read())["metadata"]["name"] in name  # type: ignore[union-attr]
    assert {(e.resource, e.group, e.namespace, e.name) for e in ArchiveReader(path).entries()} == names
    if shutil.which("tar"):
        listed = subprocess.run(["tar", "-tzf", str(path)], capture_output=True, text=True, check=True).stdout
        assert expected <= set(listed.splitlines())
