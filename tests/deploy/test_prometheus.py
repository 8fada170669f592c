"""deploy/prometheus: `promtool check config`, `promtool check rules` and `promtool test rules` (skipped
when promtool is missing, unless OCO_REQUIRE_DEPLOY_TOOLS=1), the scrape targets match the compose
services, and every metric a rule reads is exported by the running service its group is named after."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.deploy import dockerfile
from tests.deploy.compose import load as load_compose
from tests.deploy.conftest import require_tool_or_skip
from tests.deploy.promql import SYNTHETIC, metric_names

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        require_tool_or_skip("promtool (Debian package `prometheus`)")
    return subprocess.run(
        [tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, check=False, timeout=120
    )


def rules() -> list[dict]:
    return yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]


def test_promtool_checks_the_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_two_alerts() -> None:
    result = promtool("test", "rules", "rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load((PROMETHEUS / "rules.test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested >= {
        "CerebraHighErrorRate",
        "AegisBackupFailed",
        "AegisRpoBreached",
        "CerebraBudgetExhausted",
    }
    assert tested >= {"CerebraOverheadP99", "EconomistIngestionFailed"}


def test_promtool_test_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    spec = yaml.safe_load((PROMETHEUS / "rules.test.yml").read_text())
    spec["rule_files"] = [str(PROMETHEUS / "rules.yml")]
    spec["tests"][1]["alert_rule_test"][0]["exp_alerts"] = [{"exp_labels": {"severity": "critical"}}]
    wrong = tmp_path / "wrong.test.yml"
    wrong.write_text(yaml.safe_dump(spec))
    result = promtool("test", "rules", str(wrong))
    assert result.returncode != 0


def test_prometheus_scrapes_the_three_services_where_compose_runs_them() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["rules.yml"]
    services = load_compose()["services"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert set(targets) == {"cerebra", "economist", "aegis"}
    for name, (target,) in targets.items():
        host, port = target.split(":")
        assert host in services and int(port) == dockerfile.exposed(name)[0]
    for job in config["scrape_configs"]:
        assert job["metrics_path"] == "/metrics"
    mounts = services["prometheus"]["volumes"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in mounts


def test_the_promql_reader_finds_metric_names() -> None:
    expr = (
        'sum by (le, route) (rate(oco_http_request_duration_seconds_bucket{service="cerebra", route=~"/v1/.*"}'
        "[$__rate_interval])) / ignoring(x) group_left sum(a_total offset 5m) > 1e3 and on(job) up == 0"
    )
    assert metric_names(expr) == {"oco_http_request_duration_seconds_bucket", "a_total", "up"}


def test_every_metric_a_rule_reads_is_exported_by_its_service(exported_metrics: dict[str, set[str]]) -> None:
    groups = rules()
    assert {g["name"] for g in groups} == {"oco", "cerebra", "economist", "aegis"}
    for group in groups:
        for rule in group["rules"]:
            names = metric_names(rule["expr"]) - SYNTHETIC
            if group["name"] == "oco":
                assert not names, rule["alert"]
                continue
            assert names, rule["alert"]
            missing = names - exported_metrics[group["name"]]
            assert not missing, f"{rule['alert']} reads {missing}, which {group['name']} does not export"
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]
