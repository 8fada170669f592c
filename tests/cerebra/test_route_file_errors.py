"""Hardening (issue #16, finding 7): a route file with a YAML error is reported (at start-up and on a
hot reload) with its position, line and column, and never with the offending text, which may hold a
provider key written inline."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from cerebra.routing.table import RouteTableError, RouteTableSource

SECRET = "sk-canary-0123456789abcdefSECRET"
GOOD = "models:\n  a:\n    deployments:\n      - {provider: openai, model: gpt-4o}\n"
# line 4 holds the secret and the error: an unclosed flow mapping, a stray quote, a tab indent
BROKEN = [
    f"models:\n  a:\n    deployments:\n      - {{provider: openai, api_key: {SECRET}\n",
    f'models:\n  a:\n    deployments:\n      - provider: openai\n        api_key: "{SECRET}\n',
    f"models:\n  a:\n    deployments:\n\t- api_key: {SECRET}\n",
    f"models:\n  a: {SECRET}: x\n",
]


@pytest.mark.parametrize("text", BROKEN)
def test_start_up_error_gives_the_position_not_the_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    with pytest.raises(RouteTableError) as failure:
        RouteTableSource(path)
    message = str(failure.value)
    assert "line " in message and "column " in message, message
    assert SECRET not in message and SECRET[:12] not in message, message


@pytest.mark.parametrize("text", BROKEN)
def test_reload_error_is_logged_with_the_position_not_the_text(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(GOOD)
    source = RouteTableSource(path, check_interval_s=0)
    path.write_text(text)
    os.utime(path, (time.time() + 5, time.time() + 5))
    with caplog.at_level(logging.DEBUG):
        assert list(source.current().routes) == ["a"]  # the last good table keeps serving
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "route table not reloaded" in logged and "line " in logged, logged
    assert SECRET not in logged and SECRET[:12] not in logged, logged
