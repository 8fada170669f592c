"""The one definition of a run's phase: the records, the runners and /docs all speak aegis.backups.phase.Phase."""

from __future__ import annotations

import pytest

from aegis.backups.phase import RESTORABLE, UNFINISHED, Phase, progress_percent
from tests.aegis.api_env import AegisEnv, start_env

VELERO_PHASES = ["New", "InProgress", "Completed", "PartiallyFailed", "Failed", "Deleted"]


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube) -> AegisEnv:  # type: ignore[no-untyped-def]
    return await start_env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube)


def test_the_phase_values_are_velero_s() -> None:
    assert [p.value for p in Phase] == VELERO_PHASES
    assert UNFINISHED == ("New", "InProgress")
    assert RESTORABLE == ("Completed", "PartiallyFailed")
    assert progress_percent(Phase.PARTIALLY_FAILED, 1, 4) == 100.0
    assert progress_percent("InProgress", 1, 4) == 25.0


async def test_docs_list_the_phase_values_for_records_and_filters(env: AegisEnv) -> None:
    spec = await env.ok("GET", "/openapi.json")
    schemas = spec["components"]["schemas"]
    assert schemas["Phase"]["enum"] == VELERO_PHASES
    assert schemas["Backup"]["properties"]["phase"] == {"$ref": "#/components/schemas/Phase"}
    assert schemas["Restore"]["properties"]["phase"] == {"$ref": "#/components/schemas/Phase"}
    for path in ("/api/v1/backups", "/api/v1/restores"):
        (phase,) = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "phase"]
        assert {"$ref": "#/components/schemas/Phase"} in phase["schema"]["anyOf"]


async def test_the_phase_filter_takes_the_values_and_refuses_others(env: AegisEnv) -> None:
    assert (await env.call("GET", "/api/v1/backups", params={"phase": "Bogus"})).status_code == 422
    page = await env.ok("GET", "/api/v1/backups", params={"phase": "Completed"})
    assert all(item["phase"] == "Completed" for item in page["items"])
