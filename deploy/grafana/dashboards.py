"""The Grafana dashboards of Open Cloud Ops, as code: `python deploy/grafana/dashboards.py` writes
deploy/grafana/dashboards/*.json (tests/deploy/test_grafana.py fails when they are stale).

Panels read only what exists today: the services' Prometheus metrics and the database's tables
(api_requests, cloud_costs_daily, ingestions, backup_records, restore_records)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
POSTGRES = {"type": "grafana-postgresql-datasource", "uid": "postgres"}
WIDTH = 24


def prom(expr: str, legend: str = "", ref: str = "A") -> dict[str, Any]:
    return {"refId": ref, "datasource": PROMETHEUS, "expr": expr, "legendFormat": legend or "__auto"}


def sql(query: str, fmt: str = "time_series", ref: str = "A") -> dict[str, Any]:
    return {
        "refId": ref,
        "datasource": POSTGRES,
        "format": fmt,
        "rawQuery": True,
        "editorMode": "code",
        "rawSql": " ".join(query.split()),
    }


def panel(
    title: str, kind: str, targets: list[dict[str, Any]], unit: str = "short", w: int = 12
) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]}}
        if kind == "timeseries"
        else {},
        "_width": w,
    }


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    """Ids 1..n in order, laid out left to right in rows of WIDTH, 8 high."""
    x = y = 0
    for number, item in enumerate(panels, start=1):
        w = item.pop("_width")
        if x + w > WIDTH:
            x, y = 0, y + 8
        item["id"] = number
        item["gridPos"] = {"h": 8, "w": w, "x": x, "y": y}
        x += w
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["open-cloud-ops"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def cerebra() -> dict[str, Any]:
    v1 = 'service="cerebra", route=~"/v1/.*"'
    latency = f"sum by (le) (rate(oco_http_request_duration_seconds_bucket{{{v1}}}[$__rate_interval]))"
    return dashboard(
        "oco-cerebra",
        "Cerebra",
        "LLM gateway: traffic, latency, gateway overhead, errors, upstreams, tokens and cost by model and team.",
        [
            panel(
                "Requests per second by route",
                "timeseries",
                [
                    prom(
                        f"sum by (route) (rate(oco_http_requests_total{{{v1}}}[$__rate_interval]))",
                        "{{route}}",
                    )
                ],
                "reqps",
            ),
            panel(
                "Latency p50 / p99 (upstream included)",
                "timeseries",
                [
                    prom(f"histogram_quantile(0.5, {latency})", "p50"),
                    prom(f"histogram_quantile(0.99, {latency})", "p99", "B"),
                ],
                "s",
            ),
            panel(
                "Gateway overhead p50 / p99 (request logs)",
                "timeseries",
                [
                    sql(
                        """SELECT $__timeGroupAlias(created_at, '1m'),
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY overhead_us) / 1000.0 AS "p50",
                        percentile_cont(0.99) WITHIN GROUP (ORDER BY overhead_us) / 1000.0 AS "p99"
                        FROM api_requests WHERE $__timeFilter(created_at) GROUP BY 1 ORDER BY 1"""
                    )
                ],
                "ms",
            ),
            panel(
                "Errors by status",
                "timeseries",
                [
                    prom(
                        'sum by (status) (rate(oco_http_requests_total{service="cerebra", status=~"[45].."}'
                        "[$__rate_interval]))",
                        "{{status}}",
                    )
                ],
                "reqps",
            ),
            panel(
                "Errors by type (request logs)",
                "table",
                [
                    sql(
                        """SELECT status_code, COALESCE(error, '') AS error, COUNT(*) AS requests
                        FROM api_requests WHERE $__timeFilter(created_at) AND status_code >= 400
                        GROUP BY status_code, error ORDER BY requests DESC LIMIT 50""",
                        "table",
                    )
                ],
            ),
            panel(
                "Upstream attempts by provider and outcome",
                "timeseries",
                [
                    prom(
                        "sum by (provider, outcome) (rate(cerebra_upstream_attempts_total[$__rate_interval]))",
                        "{{provider}} {{outcome}}",
                    )
                ],
                "ops",
            ),
            panel(
                "Tokens per hour by model",
                "timeseries",
                [
                    sql(
                        """SELECT $__timeGroupAlias(created_at, '1h'), model AS metric,
                        SUM(prompt_tokens + completion_tokens) AS value
                        FROM api_requests WHERE $__timeFilter(created_at) AND model IS NOT NULL
                        GROUP BY 1, 2 ORDER BY 1"""
                    )
                ],
            ),
            panel(
                "Cost (USD) per hour by model",
                "timeseries",
                [
                    sql(
                        """SELECT $__timeGroupAlias(created_at, '1h'), model AS metric, SUM(cost_usd) AS value
                        FROM api_requests WHERE $__timeFilter(created_at) AND model IS NOT NULL
                        GROUP BY 1, 2 ORDER BY 1"""
                    )
                ],
                "currencyUSD",
            ),
            panel(
                "Tokens and cost by model and team",
                "table",
                [
                    sql(
                        """SELECT model, COALESCE(team_id, '(no team)') AS team, COUNT(*) AS requests,
                        SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens,
                        SUM(cost_usd) AS cost_usd
                        FROM api_requests WHERE $__timeFilter(created_at)
                        GROUP BY model, team_id ORDER BY cost_usd DESC NULLS LAST LIMIT 100""",
                        "table",
                    )
                ],
                w=24,
            ),
            panel(
                "Deployments put in cooldown",
                "timeseries",
                [
                    prom(
                        "sum by (deployment) (increase(cerebra_deployment_cooldowns_total[$__rate_interval]))",
                        "{{deployment}}",
                    )
                ],
            ),
            panel(
                "Request-log writer: rows written, dropped, queued",
                "timeseries",
                [
                    prom("sum(rate(oco_writer_rows_written_total[$__rate_interval]))", "written/s"),
                    prom(
                        "sum by (reason) (rate(oco_writer_rows_dropped_total[$__rate_interval]))",
                        "dropped/s {{reason}}",
                        "B",
                    ),
                    prom("sum(oco_writer_queue_depth)", "queued", "C"),
                ],
            ),
        ],
    )


def economist() -> dict[str, Any]:
    return dashboard(
        "oco-economist",
        "Economist",
        "Cloud costs from the daily rollup (cloud_costs_daily): spend by provider and service, month to date, "
        "ingestions, and the API's traffic.",
        [
            panel(
                "Daily spend by provider",
                "timeseries",
                [
                    sql(
                        """SELECT day::timestamptz AS time, provider_name || ' ' || billing_currency AS metric,
                        SUM(effective_cost) AS value FROM cloud_costs_daily
                        WHERE $__timeFilter(day) GROUP BY 1, 2 ORDER BY 1"""
                    )
                ],
            ),
            panel(
                "Daily spend by service",
                "timeseries",
                [
                    sql(
                        """SELECT day::timestamptz AS time,
                        COALESCE(service_name, '(none)') || ' ' || billing_currency AS metric,
                        SUM(effective_cost) AS value FROM cloud_costs_daily
                        WHERE $__timeFilter(day) GROUP BY 1, 2 ORDER BY 1"""
                    )
                ],
            ),
            panel(
                "Month to date by currency",
                "stat",
                [
                    sql(
                        """SELECT billing_currency AS metric, SUM(effective_cost) AS value FROM cloud_costs_daily
                        WHERE day >= date_trunc('month', now()) GROUP BY billing_currency""",
                        "table",
                    )
                ],
                w=8,
            ),
            panel(
                "Month to date by provider",
                "table",
                [
                    sql(
                        """SELECT provider_name, billing_currency, SUM(effective_cost) AS effective_cost,
                        SUM(billed_cost) AS billed_cost FROM cloud_costs_daily
                        WHERE day >= date_trunc('month', now())
                        GROUP BY provider_name, billing_currency ORDER BY effective_cost DESC""",
                        "table",
                    )
                ],
                w=16,
            ),
            panel(
                "Top services this month",
                "table",
                [
                    sql(
                        """SELECT provider_name, COALESCE(service_name, '(none)') AS service, billing_currency,
                        SUM(effective_cost) AS effective_cost FROM cloud_costs_daily
                        WHERE day >= date_trunc('month', now())
                        GROUP BY provider_name, service_name, billing_currency
                        ORDER BY effective_cost DESC LIMIT 20""",
                        "table",
                    )
                ],
            ),
            panel(
                "Ingestions by status",
                "table",
                [
                    sql(
                        """SELECT source, status, COUNT(*) AS ingestions, SUM(row_count) AS rows,
                        MAX(finished_at) AS last_finished FROM ingestions WHERE $__timeFilter(created_at)
                        GROUP BY source, status ORDER BY source, status""",
                        "table",
                    )
                ],
            ),
            panel(
                "Failed ingestions",
                "table",
                [
                    sql(
                        """SELECT created_at AS time, id, source, filename, errors FROM ingestions
                        WHERE $__timeFilter(created_at) AND status = 'failed' ORDER BY created_at DESC LIMIT 50""",
                        "table",
                    )
                ],
            ),
            panel(
                "API requests by status",
                "timeseries",
                [
                    prom(
                        'sum by (status) (rate(oco_http_requests_total{service="economist"}[$__rate_interval]))',
                        "{{status}}",
                    )
                ],
                "reqps",
            ),
        ],
    )


def aegis() -> dict[str, Any]:
    def quantile(q: str, metric: str) -> str:
        return f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket[$__rate_interval])))"

    return dashboard(
        "oco-aegis",
        "Aegis",
        "Kubernetes backup and restore: runs by phase, last good backup age, durations and archive sizes.",
        [
            panel(
                "Backups finished by phase",
                "timeseries",
                [prom("sum by (phase) (increase(aegis_backups_total[$__rate_interval]))", "{{phase}}")],
            ),
            panel(
                "Backups by phase (records)",
                "table",
                [
                    sql(
                        """SELECT cluster, phase, COUNT(*) AS backups, MAX(finished_at) AS last_finished
                        FROM backup_records WHERE $__timeFilter(created_at)
                        GROUP BY cluster, phase ORDER BY cluster, phase""",
                        "table",
                    )
                ],
            ),
            panel(
                "Age of the last completed backup per schedule",
                "timeseries",
                [prom("time() - aegis_schedule_last_success_timestamp_seconds", "{{schedule}}")],
                "s",
            ),
            panel(
                "Age of the last completed backup per cluster",
                "table",
                [
                    sql(
                        """SELECT cluster, MAX(finished_at) AS last_completed,
                        EXTRACT(EPOCH FROM now() - MAX(finished_at)) AS age_seconds
                        FROM backup_records WHERE phase = 'Completed' GROUP BY cluster ORDER BY cluster""",
                        "table",
                    )
                ],
            ),
            panel(
                "Backup duration p50 / p95",
                "timeseries",
                [
                    prom(quantile("0.5", "aegis_backup_duration_seconds"), "p50"),
                    prom(quantile("0.95", "aegis_backup_duration_seconds"), "p95", "B"),
                ],
                "s",
            ),
            panel(
                "Restore duration p50 / p95",
                "timeseries",
                [
                    prom(quantile("0.5", "aegis_restore_duration_seconds"), "p50"),
                    prom(quantile("0.95", "aegis_restore_duration_seconds"), "p95", "B"),
                ],
                "s",
            ),
            panel(
                "Last archive size per cluster",
                "timeseries",
                [prom("aegis_backup_last_archive_bytes", "{{cluster}}")],
                "bytes",
            ),
            panel(
                "Archive sizes (records)",
                "timeseries",
                [
                    sql(
                        """SELECT created_at AS time, cluster AS metric, size_bytes AS value FROM backup_records
                        WHERE $__timeFilter(created_at) AND phase IN ('Completed', 'PartiallyFailed')
                        ORDER BY 1""",
                    )
                ],
                "bytes",
            ),
            panel(
                "Restores finished by phase",
                "timeseries",
                [prom("sum by (phase) (increase(aegis_restores_total[$__rate_interval]))", "{{phase}}")],
            ),
            panel(
                "Runs in progress and interrupted",
                "timeseries",
                [
                    prom("sum(aegis_backups_running)", "backups running"),
                    prom("sum(aegis_restores_running)", "restores running", "B"),
                    prom(
                        "sum by (kind) (increase(aegis_interrupted_runs_total[$__rate_interval]))",
                        "interrupted {{kind}}",
                        "C",
                    ),
                ],
            ),
        ],
    )


DASHBOARDS = {"cerebra": cerebra, "economist": economist, "aegis": aegis}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {f"{name}.json": json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
