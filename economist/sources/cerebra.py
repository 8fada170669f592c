"""Cerebra's LLM spend as ledger rows: its FOCUS 1.2 export (`GET {url}/api/v1/analytics/focus?from=&to=&format=csv`
with `X-API-Key`) downloaded to a private temporary file, then read like any FOCUS file. HTTP and FOCUS only:
nothing of cerebra is imported. The key is sent in the header and appears in no error, log or record."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from typing import IO

import httpx

from economist.sources.base import DEFAULT_BATCH_SIZE, SourceBatch
from economist.sources.focus import FocusSource
from oco.netguard import AddressPolicy, Refused

#: the allow-list a cerebra URL on a non-public address needs (cerebra usually runs next to economist)
ALLOW_SETTING = "OCO_OUTBOUND_ALLOW_HOSTS"

EXPORT_PATH = "/api/v1/analytics/focus"
_CHUNK = 1 << 20
_SPOOL_BYTES = 8 * 1024 * 1024


class CerebraUnavailable(RuntimeError):
    """Cerebra could not be reached or refused the export (the message names the status, never the key)."""


class CerebraSource:
    """The charges cerebra's FOCUS export holds for the days [start, end)."""

    name = "cerebra"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        start: date,
        end: date,
        *,
        timeout_s: float = 60.0,
        addresses: AddressPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        #: where the URL may point (oco/netguard.py): public addresses plus OCO_OUTBOUND_ALLOW_HOSTS
        self.addresses = addresses or AddressPolicy(setting=ALLOW_SETTING)
        self._api_key = api_key
        self.start = start
        self.end = end
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # never the key
        return f"CerebraSource({self.base_url!r}, {self.start}, {self.end})"

    def _download(self) -> IO[bytes]:
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - closed by batches()
        params = {"from": self.start.isoformat(), "to": self.end.isoformat(), "format": "csv"}
        where = f"GET {EXPORT_PATH} on cerebra"
        try:  # checked before each download, never only once: DNS can change
            self.addresses.check_sync(self.base_url + EXPORT_PATH, what="cerebra URL")
        except Refused as exc:
            spool.close()
            raise CerebraUnavailable(str(exc)) from None
        try:
            with (
                httpx.Client(timeout=self.timeout_s) as client,
                client.stream(
                    "GET", self.base_url + EXPORT_PATH, params=params, headers={"X-API-Key": self._api_key}
                ) as response,
            ):
                if response.status_code != 200:
                    raise CerebraUnavailable(f"{where} answered HTTP {response.status_code}")
                for chunk in response.iter_bytes(_CHUNK):
                    spool.write(chunk)
        except httpx.HTTPError as exc:
            spool.close()
            raise CerebraUnavailable(f"{where} failed: {type(exc).__name__}") from None
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
        with self._download() as spool:
            yield from FocusSource(spool, filename="cerebra FOCUS export").batches(batch_size)
