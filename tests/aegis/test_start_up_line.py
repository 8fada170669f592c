"""Aegis's start-up line: the clusters configured (by name) and how many storage locations exist."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from aegis.app import create_app
from aegis.settings import AegisSettings
from tests.aegis.fake_kube.server import FakeKubeServer


def fresh_settings(tmp_path: Path, **values: object) -> AegisSettings:
    """Settings on a database of its own, so the number of storage locations is known."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'aegis.db'}"
    return AegisSettings(
        _env_file=None,
        oco_database_url=url,
        oco_data_dir=tmp_path,
        oco_aegis_scheduler_enabled=False,
        **values,
    )


def serving_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("aegis serves ")]


async def test_without_clusters_the_line_names_the_setting(
    tmp_path: Path, serve_app: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await serve_app(create_app(fresh_settings(tmp_path)))
    [line] = serving_lines(caplog)
    assert "no clusters configured (OCO_AEGIS_CLUSTERS); 0 storage locations" in line.getMessage()
    assert (
        line.fields["service"] == "aegis"
        and line.fields["clusters"] == []
        and line.fields["storage_locations"] == 0
    )  # type: ignore[attr-defined]


async def test_clusters_are_named_and_storage_locations_counted(
    tmp_path: Path, serve_app: Callable, caplog: pytest.LogCaptureFixture, kube: FakeKubeServer
) -> None:
    clusters = tmp_path / "clusters.yaml"
    entry = {"kubeconfig": str(kube.kubeconfig), "context": kube.context}
    clusters.write_text(yaml.safe_dump({"clusters": {"prod": entry, "dr": entry}}))
    settings = fresh_settings(tmp_path, oco_aegis_clusters=clusters)
    first = create_app(settings)
    client = await serve_app(first)
    key = await first.state.keys.create("start-up line", ["aegis"])
    body = {"name": "disk", "type": "local", "path": str(tmp_path / "backups")}
    created = await client.post("/api/v1/storage-locations", json=body, headers={"X-API-Key": key.plaintext})
    assert created.status_code == 201, created.text
    with caplog.at_level(logging.INFO):
        await serve_app(create_app(settings))
    [line] = serving_lines(caplog)
    assert "clusters: dr, prod; 1 storage location" in line.getMessage()
    assert line.fields["clusters"] == ["dr", "prod"] and line.fields["storage_locations"] == 1  # type: ignore[attr-defined]
