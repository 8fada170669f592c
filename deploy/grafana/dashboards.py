"""The Grafana dashboards of Open Cloud Ops, as code: `python deploy/grafana/dashboards.py` writes
deploy/grafana/dashboards/*.json (tests/deploy/test_grafana.py fails when they are stale).

Panels read the services' Prometheus metrics and the database's tables (api_requests, cloud_costs_daily,
ingestions, policy_violations, backup_records, dr_runs); metrics carry no team label, so per-team panels
read api_requests.team_id."""

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
    def quantile(q: str, metric: str, by: str = "") -> str:
        return f"histogram_quantile({q}, sum by (le{by}) (rate({metric}_bucket[$__rate_interval])))"

    def rate(metric: str, by: str, selector: str = "") -> str:
        return f"sum by ({by}) (rate({metric}{selector}[$__rate_interval]))"

    hits, misses = (
        "sum(rate(oco_cerebra_cache_hits_total[$__rate_interval]))",
        ("sum(rate(oco_cerebra_cache_misses_total[$__rate_interval]))"),
    )
    return dashboard(
        "oco-cerebra",
        "Cerebra",
        "LLM gateway: calls, latency, gateway overhead, errors, upstreams, tokens and cost by model and team, "
        "cache, budget and rate-limit refusals. Metrics have no team label: team panels read api_requests.",
        [
            panel(
                "Calls per second by alias and status",
                "timeseries",
                [prom(rate("oco_cerebra_requests_total", "alias, status"), "{{alias}} {{status}}")],
                "reqps",
            ),
            panel(
                "Call latency p50 / p99 (upstream included)",
                "timeseries",
                [
                    prom(quantile("0.5", "oco_cerebra_request_duration_seconds"), "p50"),
                    prom(quantile("0.99", "oco_cerebra_request_duration_seconds"), "p99", "B"),
                    prom(quantile("0.99", "oco_cerebra_time_to_first_token_seconds"), "p99 first token", "C"),
                ],
                "s",
            ),
            panel(
                "Gateway overhead p50 / p99 by endpoint",
                "timeseries",
                [
                    prom(quantile("0.5", "oco_cerebra_overhead_seconds", ", endpoint"), "p50 {{endpoint}}"),
                    prom(
                        quantile("0.99", "oco_cerebra_overhead_seconds", ", endpoint"),
                        "p99 {{endpoint}}",
                        "B",
                    ),
                ],
                "s",
            ),
            panel(
                "Upstream latency p99 by provider",
                "timeseries",
                [
                    prom(
                        quantile("0.99", "oco_cerebra_upstream_duration_seconds", ", provider"),
                        "{{provider}}",
                    )
                ],
                "s",
            ),
            panel(
                "Errors by status",
                "timeseries",
                [prom(rate("oco_cerebra_requests_total", "status", '{status=~"[45].."}'), "{{status}}")],
                "reqps",
            ),
            panel(
                "Errors by type (request logs)",
                "table",
                [
                    sql(
                        """SELECT status_code, COALESCE(error_type, '') AS error_type, COUNT(*) AS requests
                        FROM api_requests WHERE $__timeFilter(created_at) AND status_code >= 400
                        GROUP BY status_code, error_type ORDER BY requests DESC LIMIT 50""",
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
                "Tokens per second by model and kind",
                "timeseries",
                [prom(rate("oco_cerebra_tokens_total", "model, kind"), "{{model}} {{kind}}")],
            ),
            panel(
                "Cost (USD) per hour by model",
                "timeseries",
                [prom("sum by (model) (increase(oco_cerebra_cost_usd_total[1h]))", "{{model}}")],
                "currencyUSD",
            ),
            panel(
                "Calls to unpriced models by provider",
                "timeseries",
                [prom(rate("oco_cerebra_unpriced_requests_total", "provider"), "{{provider}}")],
                "reqps",
            ),
            panel(
                "Tokens and cost by model and team (request logs)",
                "table",
                [
                    sql(
                        """SELECT model, COALESCE(team_id, '(no team)') AS team, COUNT(*) AS requests,
                        SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens,
                        SUM(cache_read_tokens) AS cache_read_tokens,
                        SUM(cache_creation_tokens) AS cache_write_tokens, SUM(cost_usd) AS cost_usd
                        FROM api_requests WHERE $__timeFilter(created_at)
                        GROUP BY model, team_id ORDER BY cost_usd DESC NULLS LAST LIMIT 100""",
                        "table",
                    )
                ],
                w=24,
            ),
            panel(
                "Cost (USD) per hour by team (request logs)",
                "timeseries",
                [
                    sql(
                        """SELECT $__timeGroupAlias(created_at, '1h'), COALESCE(team_id, '(no team)') AS metric,
                        SUM(cost_usd) AS value FROM api_requests WHERE $__timeFilter(created_at)
                        GROUP BY 1, 2 ORDER BY 1"""
                    )
                ],
                "currencyUSD",
            ),
            panel(
                "Cache hit ratio",
                "timeseries",
                [prom(f"{hits} / ({hits} + {misses})", "hit ratio")],
                "percentunit",
            ),
            panel(
                "Cache hits and saved cost by alias (request logs)",
                "table",
                [
                    sql(
                        """SELECT alias, COUNT(*) AS requests, SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END) AS hits,
                        SUM(saved_cost_usd) AS saved_usd FROM api_requests WHERE $__timeFilter(created_at)
                        GROUP BY alias ORDER BY saved_usd DESC NULLS LAST LIMIT 50""",
                        "table",
                    )
                ],
            ),
            panel(
                "Budget refusals and threshold alerts by scope",
                "timeseries",
                [
                    prom(
                        "sum by (scope) (increase(oco_cerebra_budget_refusals_total[$__rate_interval]))",
                        "refused {{scope}}",
                    ),
                    prom(
                        "sum by (scope) (increase(oco_cerebra_budget_threshold_alerts_total[$__rate_interval]))",
                        "threshold {{scope}}",
                        "B",
                    ),
                ],
            ),
            panel(
                "Rate-limit refusals and backend errors",
                "timeseries",
                [
                    prom(
                        "sum by (scope, kind) (increase(oco_cerebra_rate_limited_total[$__rate_interval]))",
                        "refused {{scope}} {{kind}}",
                    ),
                    prom(
                        "sum by (mode) (increase(oco_cerebra_ratelimit_backend_errors_total[$__rate_interval]))",
                        "backend error (fail {{mode}})",
                        "B",
                    ),
                ],
            ),
            panel(
                "Deployments in cooldown",
                "timeseries",
                [
                    prom(
                        "count(max by (deployment) (oco_cerebra_deployment_cooldown_until_seconds) > time()) or vector(0)",
                        "in cooldown",
                    ),
                    prom(
                        "sum by (deployment) (increase(cerebra_deployment_cooldowns_total[$__rate_interval]))",
                        "tripped {{deployment}}",
                        "B",
                    ),
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
        "ingestions, anomalies, budgets and their forecast, recommendations, violations, and the API's traffic.",
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
                "Ingestions finished by source and status",
                "timeseries",
                [
                    prom(
                        "sum by (source, status) (increase(oco_economist_ingestions_total[$__rate_interval]))",
                        "{{source}} {{status}}",
                    )
                ],
            ),
            panel(
                "Cost anomalies in the recent days by severity",
                "timeseries",
                [prom("max by (severity) (oco_economist_anomalies)", "{{severity}}")],
            ),
            panel(
                "Budgets: spent and forecast share of the period's amount",
                "timeseries",
                [
                    prom("max by (budget) (oco_economist_budget_utilization_ratio)", "spent {{budget}}"),
                    prom(
                        "max by (budget) (oco_economist_budget_forecast_utilization_ratio)",
                        "forecast {{budget}}",
                        "B",
                    ),
                ],
                "percentunit",
            ),
            panel(
                "Budget thresholds crossed",
                "timeseries",
                [
                    prom(
                        "sum by (budget, on) (increase(oco_economist_budget_thresholds_crossed_total[$__rate_interval]))",
                        "{{budget}} ({{on}})",
                    )
                ],
            ),
            panel(
                "Open recommendations and their monthly savings by type",
                "timeseries",
                [
                    prom("max by (type) (oco_economist_recommendations_open)", "open {{type}}"),
                    prom(
                        "max by (type, currency) (oco_economist_recommendations_monthly_savings)",
                        "saving/month {{type}} {{currency}}",
                        "B",
                    ),
                ],
            ),
            panel(
                "Open violations by policy",
                "timeseries",
                [prom("max by (policy) (oco_economist_violations_open)", "{{policy}}")],
            ),
            panel(
                "Open violations (records)",
                "table",
                [
                    sql(
                        """SELECT first_seen_at AS time, resource, severity, cost_at_stake, currency
                        FROM policy_violations WHERE status = 'open' ORDER BY cost_at_stake DESC LIMIT 50""",
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
        "Kubernetes backup and restore: runs by phase, last good backup age, durations and archive sizes; DR "
        "plans: backup age vs RPO, drill durations vs RTO, compliance and runs.",
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
                "Last good backup age vs RPO target per DR plan",
                "timeseries",
                [
                    prom("max by (plan) (oco_aegis_rpo_seconds)", "age {{plan}}"),
                    prom("max by (plan) (oco_aegis_rpo_target_seconds)", "RPO {{plan}}", "B"),
                ],
                "s",
            ),
            panel(
                "DR plan compliance (0 ok, 1 at risk, 2 breached)",
                "timeseries",
                [prom("max by (plan) (oco_aegis_plan_status)", "{{plan}}")],
            ),
            panel(
                "Newest drill's RTO vs target per DR plan",
                "timeseries",
                [
                    prom("max by (plan) (oco_aegis_rto_seconds)", "drill {{plan}}"),
                    prom("max by (plan) (oco_aegis_rto_target_seconds)", "RTO {{plan}}", "B"),
                ],
                "s",
            ),
            panel(
                "DR runs finished by kind and phase",
                "timeseries",
                [
                    prom(
                        "sum by (kind, phase) (increase(aegis_dr_runs_total[$__rate_interval]))",
                        "{{kind}} {{phase}}",
                    )
                ],
            ),
            panel(
                "Drill durations (records)",
                "timeseries",
                [
                    sql(
                        """SELECT finished_at AS time, kind AS metric, achieved_rto_s AS value FROM dr_runs
                        WHERE $__timeFilter(finished_at) AND achieved_rto_s IS NOT NULL ORDER BY 1""",
                    )
                ],
                "s",
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
