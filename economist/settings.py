"""Economist's settings: the platform's plus the cost engine's own `OCO_ECONOMIST_*` names."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from economist.ledger.tags import TagNormalizer
from oco.settings import PlatformSettings


class EconomistSettings(PlatformSettings):
    """Ingestion limits, the local-path allow-list, tag folding and analysis defaults."""

    #: largest accepted upload body (POST /api/v1/ingestions/upload answers 413 above it)
    oco_economist_max_upload_bytes: int = 1024 * 1024 * 1024
    #: bounds on a billing file while it is streamed (decompression bombs): its decompressed size, one
    #: physical line, one CSV field; past one the ingestion fails with the reason (economist/sources/limits.py)
    oco_economist_max_decompressed_bytes: int = Field(default=64 * 1024**3, ge=1024)
    oco_economist_max_line_bytes: int = Field(default=32 * 1024**2, ge=1024)
    oco_economist_max_field_bytes: int = Field(default=16 * 1024**2, ge=1024)
    #: uploads stay in memory up to this size, then spill to a temporary file
    oco_economist_upload_spool_bytes: int = 8 * 1024 * 1024
    #: comma list of folders the API may read local files from (`options.path`); empty = none
    oco_economist_ingest_dirs: str = ""
    #: rows per batch read from a source and written to the ledger
    oco_economist_batch_size: int = 5000
    #: ingestions running at once in one process (more wait their turn, status `pending`)
    oco_economist_max_concurrent_ingestions: int = 2
    #: how often a running ingestion's progress is written to the `ingestions` row (PostgreSQL)
    oco_economist_progress_interval_s: float = 1.0
    #: an unfinished ingestion whose heartbeat (written every quarter of this) is older is taken for one a
    #: dead process left and marked failed "interrupted" (so is one whose process's kv lease is gone)
    oco_economist_stale_after_s: float = 60.0
    #: tag grouping: fold key case, fold '-'/'_'/spaces, split camelCase; the defaults make CostCenter,
    #: costCenter, cost-center, cost_center and COST_CENTER one key `cost_center`. Applied when rows are
    #: ingested (stored normalized) and to the keys queries name: after changing any of these, re-ingest.
    oco_economist_tag_case_fold: bool = True
    oco_economist_tag_fold_separators: bool = True
    oco_economist_tag_split_camel: bool = True
    #: the currency reported for an empty result (no rows to take it from)
    oco_economist_default_currency: str = "USD"
    #: anomalies: days below this cost (actual and expected) are never reported
    oco_economist_anomaly_min_cost: Decimal = Decimal("10")
    #: cloud clients: region, optional endpoints (MinIO/LocalStack/fakes), Cost Explorer page cache folder
    oco_economist_aws_region: str = "us-east-1"
    oco_economist_s3_endpoint_url: str | None = None
    oco_economist_ce_endpoint_url: str | None = None
    oco_economist_ce_cache_dir: Path | None = None
    oco_economist_azure_endpoint: str | None = None
    oco_economist_gcp_project: str | None = None
    #: BigQuery / Cloud Billing Catalog endpoint overrides (emulators, fakes); without Application Default
    #: Credentials the client then connects anonymously
    oco_economist_bigquery_endpoint: str | None = None
    oco_economist_gcp_catalog_endpoint: str | None = None

    # -- recommendations (economist/recommendations) ---------------------------------------------------------
    #: the window the resource rules read (idle, rightsizing, storage, spot, unused commitments), in days
    #: before the refresh's as-of day (default: the day after the ledger's last charge day)
    oco_economist_recommendations_window_days: int = 30
    #: usage below this (ConsumedQuantity of I/O, request, LCU, data-processed lines) over the window is not
    #: meaningful: volumes, load balancers and databases under it are idle
    oco_economist_recommendations_idle_max_activity: Decimal = Decimal("1")
    #: a database whose posted cpu max is at or above this percent is never idle
    oco_economist_recommendations_idle_cpu_percent: Decimal = Decimal("5")
    #: object storage with at most this many requests over the window moves to infrequent access
    oco_economist_recommendations_storage_max_requests: Decimal = Decimal("0")
    #: rightsizing: the p95 utilization (fraction) the target size should run at
    oco_economist_recommendations_target_utilization: Decimal = Decimal("0.6")
    #: spot: comma list of environment tag values that are not production
    oco_economist_recommendations_nonprod_values: str = "dev,development,test,testing,qa,staging,sandbox"
    #: spot: the share of the window a resource must be billed in (steady-ish)
    oco_economist_recommendations_spot_min_coverage: Decimal = Decimal("0.8")
    #: commitments: days of on-demand history, the percentile of daily spend taken as the baseline, and
    #: the offering (term in months, payment no_upfront|partial_upfront|all_upfront) to size
    oco_economist_recommendations_commitment_lookback_days: int = 30
    oco_economist_recommendations_commitment_percentile: int = 10
    oco_economist_recommendations_commitment_term_months: int = 12
    oco_economist_recommendations_commitment_payment: str = "no_upfront"
    #: commitments already bought: flag those used less than this fraction
    oco_economist_recommendations_commitment_min_utilization: Decimal = Decimal("0.95")
    #: findings saving less than this per month are not recorded
    oco_economist_recommendations_min_saving: Decimal = Decimal("0.01")
    #: a YAML discount table (commitments, spot, storage tiers) replacing the shipped one
    oco_economist_recommendations_discounts: Path | None = None
    #: a CSV size/price table (provider,family,size,vcpu,memory_gib,hourly_price) replacing the shipped one
    oco_economist_recommendations_sizes: Path | None = None
    #: refresh the recommendations after every ingestion this process runs
    oco_economist_recommendations_after_ingestion: bool = True
    # -- cerebra source (LLM spend from cerebra's FOCUS export; issue 13) --
    #: cerebra's base URL (e.g. http://cerebra:8080); empty: the `cerebra` source is off
    oco_economist_cerebra_url: str | None = None
    #: the API key sent as X-API-Key to cerebra's FOCUS export (never logged or stored)
    oco_economist_cerebra_api_key: SecretStr | None = None
    #: pull cerebra's export every this many seconds (yesterday and today, one replica at a time); 0: off
    oco_economist_cerebra_interval_s: float = 0.0
    #: timeout of one pull of cerebra's export
    oco_economist_cerebra_timeout_s: float = 60.0
    # -- governance and notifications (webhook secret/allow-list: OCO_NOTIFY_* of the platform) --
    #: a YAML file of policies (a list, or `policies: [...]`) loaded at start, upserted by name (origin `file`)
    oco_economist_policies: Path | None = None
    #: every enabled policy is evaluated this often (one replica at a time); 0 = only after ingestions/on demand
    oco_economist_policy_interval_s: float = 3600.0
    #: new anomalies (after each ingestion) are sent here, each once; unset = no anomaly webhooks
    oco_economist_anomaly_webhook_url: str | None = None
    #: json (the anomaly) or slack ({"text": ...})
    oco_economist_anomaly_webhook_format: Literal["json", "slack"] = "json"
    #: the lowest anomaly severity sent
    oco_economist_anomaly_notify_severity: Literal["low", "medium", "high"] = "high"
    #: how many days (ending with the ingestion's last charge day) are checked for anomalies to send
    oco_economist_anomaly_notify_days: int = 7

    @property
    def ingest_dirs(self) -> list[Path]:
        """The allow-listed folders, resolved (symlinks followed)."""
        return [
            Path(d.strip()).expanduser().resolve()
            for d in self.oco_economist_ingest_dirs.split(",")
            if d.strip()
        ]

    @property
    def tag_normalizer(self) -> TagNormalizer:
        """How tag keys are folded for grouping."""
        return TagNormalizer(
            case_fold=self.oco_economist_tag_case_fold,
            fold_separators=self.oco_economist_tag_fold_separators,
            strip_camel=self.oco_economist_tag_split_camel,
        )

    @property
    def ce_cache_dir(self) -> Path:
        """Where finished Cost Explorer months are cached (each page costs money)."""
        return self.oco_economist_ce_cache_dir or self.oco_data_dir / "ce-cache"

    # -- budgets and allocation (showback) ------------------------------------------------------------------
    #: allocation: which rows are shared cost besides those without a value for the grouping dimension, in
    #: the cost API's filter syntax (e.g. `service:Support|Shared Services` or `tag:shared=true`); empty =
    #: only the untagged rows. GET /api/v1/allocation?shared_filter= overrides it per request.
    oco_economist_shared_costs: str = ""
