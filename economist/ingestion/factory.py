"""From an ingestion request (source kind, period, options) to a BillingSource: option checks, the local
path allow-list, and which cloud SDK clients a source gets (each adapter in economist/sources/ builds its
own from the SDK's standard credential chain; none is stored).

Local paths: the API reads a file only when its real path (symlinks resolved) lies under one of the
folders in OCO_ECONOMIST_INGEST_DIRS; with the setting empty, the API reads no local file at all. The CLI
(`oco economist ingest PATH`) runs as the local user and is not limited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from economist.ingestion.page_cache import DirectoryCache
from economist.settings import EconomistSettings
from economist.sources import (
    AwsCostExplorerSource,
    AwsCurSource,
    AzureCostQuerySource,
    AzureExportSource,
    BillingSource,
    GcpBigQuerySource,
    GcpCatalogPriceBook,
    open_focus_source,
    open_focus_source_s3,
)
from economist.sources.aws_cost_explorer import make_cost_explorer_client
from economist.sources.azure_cost import make_cost_management_client
from economist.sources.cerebra import ALLOW_SETTING as CEREBRA_ALLOW
from economist.sources.cerebra import CerebraSource
from economist.sources.files import ExportFilesError, export_files
from economist.sources.gcp_bigquery import make_bigquery_client
from economist.sources.gcp_catalog import make_catalog_client
from economist.sources.multi import MultiFileSource
from economist.sources.s3files import make_s3_client
from oco.errors import BadRequest
from oco.netguard import AddressPolicy

SOURCE_KINDS = (
    "focus",
    "aws_cost_explorer",
    "aws_cur",
    "azure_cost",
    "azure_export",
    "gcp_bigquery",
    "cerebra",
)
FILE_SOURCES = ("focus", "aws_cur", "azure_export")
API_SOURCES = ("aws_cost_explorer", "azure_cost", "gcp_bigquery", "cerebra")

#: the options each source accepts (anything else is refused, so a typo never passes silently)
#: (`replace_key`, accepted by all, overrides the origin that decides what a load replaces: slices.py)
SOURCE_OPTIONS: dict[str, frozenset[str]] = {
    "focus": frozenset({"path", "bucket", "key", "replace_key"}),
    "aws_cur": frozenset({"path", "bucket", "key", "replace_key"}),
    "azure_export": frozenset({"path", "cost_type", "replace_key"}),
    "aws_cost_explorer": frozenset({"group_by", "tag_keys", "effective_metric", "filter", "replace_key"}),
    "azure_cost": frozenset({"scope", "cost_type", "group_by", "tag_key", "replace_key"}),
    "gcp_bigquery": frozenset(
        {"table", "detailed", "project", "list_prices", "list_price_currency", "replace_key"}
    ),
    "cerebra": frozenset({"replace_key"}),
}
MAX_REPLACE_KEY = 300


class SourceRequestError(BadRequest, ValueError):
    """An ingestion request that cannot be turned into a source (bad option, path not allowed, ...): 400."""

    default_code = "invalid_source_request"

    def __init__(self, message: str, param: str | None = None, code: str = "invalid_source_request") -> None:
        super().__init__(message, param=param, code=code)


class CloudClients:
    """Builds SDK clients on demand with each adapter's builder; tests pass a subclass pointed at fakes."""

    def __init__(self, settings: EconomistSettings) -> None:
        self.settings = settings

    def s3(self) -> Any:
        settings = self.settings
        return make_s3_client(settings.oco_economist_aws_region, settings.oco_economist_s3_endpoint_url)

    def cost_explorer(self) -> Any:
        settings = self.settings
        return make_cost_explorer_client(
            settings.oco_economist_aws_region, settings.oco_economist_ce_endpoint_url
        )

    def cost_management(self) -> Any:
        return make_cost_management_client(self.settings.oco_economist_azure_endpoint)

    def bigquery(self, project: str | None) -> Any:
        settings = self.settings
        return make_bigquery_client(
            project or settings.oco_economist_gcp_project, settings.oco_economist_bigquery_endpoint
        )

    def catalog(self) -> Any:
        return make_catalog_client(self.settings.oco_economist_gcp_catalog_endpoint)


def allowed_path(raw: Any, settings: EconomistSettings) -> Path:
    """The resolved path when it lies under an allow-listed folder and is a file; SourceRequestError otherwise."""
    _check_path_text(raw)
    roots = settings.ingest_dirs
    if not roots:
        raise SourceRequestError(
            "reading local files is disabled: set OCO_ECONOMIST_INGEST_DIRS to the folders the API may read",
            "options.path",
            "path_not_allowed",
        )
    path = Path(raw).expanduser().resolve()
    if not any(path.is_relative_to(root) for root in roots):
        raise SourceRequestError(
            "options.path is outside the folders listed in OCO_ECONOMIST_INGEST_DIRS",
            "options.path",
            "path_not_allowed",
        )
    try:
        is_file = path.is_file() or path.is_dir()
    except OSError:  # e.g. a name too long for the file system
        is_file = False
    if not is_file:
        raise SourceRequestError(f"no such file: {raw}", "options.path", "file_not_found")
    return path


def _exists(path: Path) -> bool:
    try:
        return path.is_file() or path.is_dir()
    except OSError:
        return False


def _check_path_text(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise SourceRequestError("options.path must be a non-empty string", "options.path")
    if "\x00" in raw:
        raise SourceRequestError("options.path must not contain a NUL character", "options.path")
    return raw


def _check_replace_key(options: dict[str, Any]) -> None:
    if "replace_key" not in options:
        return
    key = options["replace_key"]
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_REPLACE_KEY or "\x00" in key:
        raise SourceRequestError(
            f"options.replace_key must be a non-empty string of at most {MAX_REPLACE_KEY} characters",
            "options.replace_key",
        )


def _require_period(kind: str, period: tuple[date, date] | None) -> tuple[date, date]:
    if period is None:
        raise SourceRequestError(f"source {kind} needs a period {{start, end}}", "period")
    return period


def _string_list(options: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = options.get(name, default)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SourceRequestError(f"options.{name} must be a list of strings", f"options.{name}")
    return value


class SourceFactory:
    """Turns (kind, period, options) into a BillingSource. `local_paths`: whether `path` must pass the
    allow-list (API) or is trusted (CLI)."""

    def __init__(self, settings: EconomistSettings, clients: CloudClients | None = None) -> None:
        self.settings = settings
        self.clients = clients or CloudClients(settings)

    def check(
        self, kind: str, period: tuple[date, date] | None, options: dict[str, Any], *, trusted: bool
    ) -> None:
        """Validate a request without opening anything remote (so the API can answer 400 before 202)."""
        if kind not in SOURCE_KINDS:
            raise SourceRequestError(f"unknown source {kind!r}; one of {', '.join(SOURCE_KINDS)}", "source")
        unknown = set(options) - SOURCE_OPTIONS[kind]
        if unknown:
            raise SourceRequestError(
                f"unknown option(s) for {kind}: {', '.join(sorted(unknown))}; "
                f"accepted: {', '.join(sorted(SOURCE_OPTIONS[kind]))}",
                "options",
            )
        _check_replace_key(options)
        if kind in API_SOURCES:
            _require_period(kind, period)
        if kind == "aws_cost_explorer" and not isinstance(options.get("filter", {}), dict):
            raise SourceRequestError(
                "options.filter must be a Cost Explorer filter expression (an object)", "options.filter"
            )
        if kind in FILE_SOURCES:
            if "path" in options:
                if not trusted:
                    allowed_path(options["path"], self.settings)
                elif not _exists(Path(_check_path_text(options["path"]))):
                    raise SourceRequestError(
                        f"no such file: {options['path']}", "options.path", "file_not_found"
                    )
            elif not (options.get("bucket") and options.get("key")):
                raise SourceRequestError(
                    f"source {kind} needs options.path or options.bucket + options.key", "options"
                )
        if kind == "azure_cost" and not options.get("scope"):
            raise SourceRequestError(
                "source azure_cost needs options.scope (e.g. /subscriptions/<id>)", "options.scope"
            )
        if kind == "cerebra" and not self.settings.oco_economist_cerebra_url:
            raise SourceRequestError(
                "source cerebra needs OCO_ECONOMIST_CEREBRA_URL (cerebra's base URL)",
                "source",
                "not_configured",
            )
        if kind == "gcp_bigquery" and not options.get("table"):
            raise SourceRequestError(
                "source gcp_bigquery needs options.table (project.dataset.table)", "options.table"
            )

    def build(
        self, kind: str, period: tuple[date, date] | None, options: dict[str, Any], *, trusted: bool
    ) -> BillingSource:
        """A source ready to stream (clients are created here, in the caller's thread)."""
        self.check(kind, period, options, trusted=trusted)
        builders: dict[str, Callable[[], BillingSource]] = {
            "focus": lambda: self._file(kind, options, trusted, open_focus_source, open_focus_source_s3),
            "aws_cur": lambda: self._file(kind, options, trusted, AwsCurSource, AwsCurSource.from_s3),
            "azure_export": lambda: AzureExportSource(
                self._single_file(options, trusted), cost_type=options.get("cost_type")
            ),
            "aws_cost_explorer": lambda: self._cost_explorer(_require_period(kind, period), options),
            "azure_cost": lambda: self._azure(_require_period(kind, period), options),
            "gcp_bigquery": lambda: self._bigquery(_require_period(kind, period), options),
            "cerebra": lambda: self._cerebra(_require_period(kind, period)),
        }
        try:
            return builders[kind]()
        except SourceRequestError:
            raise
        except ValueError as exc:  # the adapters check their arguments (e.g. at most two groupings)
            raise SourceRequestError(str(exc), "options") from None

    def _single_file(self, options: dict[str, Any], trusted: bool) -> Path:
        path = self._path(options, trusted)
        if path.is_dir():
            raise SourceRequestError("options.path must be a file for this source", "options.path")
        return path

    def _path(self, options: dict[str, Any], trusted: bool) -> Path:
        raw = options.get("path")
        return Path(str(raw)).expanduser() if trusted else allowed_path(raw, self.settings)

    def _file(self, kind: str, options: dict[str, Any], trusted: bool, local: Any, s3: Any) -> BillingSource:
        if "path" in options:
            path = self._path(options, trusted)
            try:
                parts = export_files(path)
            except ExportFilesError as exc:
                raise SourceRequestError(str(exc), "options.path", "no_export_files") from None
            if parts is None:
                return local(path, filename=path.name)
            return MultiFileSource(
                kind, [local(p, filename=p.name) for p in parts], names=[p.name for p in parts]
            )
        return s3(str(options["bucket"]), str(options["key"]), s3_client=self.clients.s3())

    def _cost_explorer(self, period: tuple[date, date], options: dict[str, Any]) -> BillingSource:
        group_by = [
            ("DIMENSION", key.upper())
            for key in _string_list(options, "group_by", ["SERVICE", "LINKED_ACCOUNT"])
        ]
        cache_dir = self.settings.ce_cache_dir
        return AwsCostExplorerSource(
            self.clients.cost_explorer(),
            period[0],
            period[1],
            group_by=group_by,
            tag_keys=_string_list(options, "tag_keys", []),
            effective_metric=str(options.get("effective_metric", "AmortizedCost")),
            filter=options.get("filter") or None,
            page_cache=DirectoryCache(cache_dir),
        )

    def _azure(self, period: tuple[date, date], options: dict[str, Any]) -> BillingSource:
        return AzureCostQuerySource(
            self.clients.cost_management(),
            str(options["scope"]),
            period[0],
            period[1],
            cost_type=options.get("cost_type", "ActualCost"),
            group_by=_string_list(options, "group_by", ["ServiceName", "ResourceLocation"]),
            tag_key=options.get("tag_key"),
        )

    def _cerebra(self, period: tuple[date, date]) -> BillingSource:
        settings = self.settings
        key = settings.oco_economist_cerebra_api_key
        return CerebraSource(
            str(settings.oco_economist_cerebra_url),
            key.get_secret_value() if key is not None else "",
            period[0],
            period[1],
            timeout_s=settings.oco_economist_cerebra_timeout_s,
            addresses=AddressPolicy.parse(settings.oco_outbound_allow_hosts, setting=CEREBRA_ALLOW),
        )

    def _bigquery(self, period: tuple[date, date], options: dict[str, Any]) -> BillingSource:
        return GcpBigQuerySource(
            self.clients.bigquery(options.get("project")),
            str(options["table"]),
            period[0],
            period[1],
            bool(options.get("detailed", False)),
            list_prices=(
                GcpCatalogPriceBook(
                    self.clients.catalog(), currency=str(options.get("list_price_currency", "USD"))
                )
                if options.get("list_prices")
                else None
            ),
        )
