"""A 10-second version of bench/soak_cerebra.py that stays in CI: cerebra as a subprocess at a steady rate
with a rate-limited key and a budgeted key and request logging on: no error beyond the limited key's 429s
(and some 429s, so the limit was exercised), every response has exactly one request-log row."""

from __future__ import annotations

from tests.cerebra.soak import soak


async def test_a_short_soak_has_no_errors_and_logs_every_response(tmp_path, database_url, redis_url) -> None:  # type: ignore[no-untyped-def]
    result = await soak(tmp_path, seconds=10, rate=30, database_url=database_url, redis_url=redis_url)
    rss = result.rss_kib
    print(
        f"\nshort soak: {result.responses} responses {dict(result.statuses)}, {result.rows} rows, "
        f"RSS {rss[0][1] / 1024:.1f} -> {rss[-1][1] / 1024:.1f} MiB"
    )
    assert not result.errors, f"{dict(result.errors)}\n{result.log_tail}"
    assert result.limited > 0, "the rate limit never bit: the test proves nothing about 429s"
    assert result.served > 0
    assert result.cache_hits > 0, "the response cache never answered: the soak does not exercise it"
    assert result.responses == result.sent
    assert (result.rows, result.duplicated_rows) == (result.responses, 0), result.log_tail
