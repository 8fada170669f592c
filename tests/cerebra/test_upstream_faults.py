"""Upstream faults reach the caller as clean errors and leave nothing behind: an upstream that hangs
(before any byte, or mid-stream), resets the connection mid-stream, or sends malformed SSE gives a 504/502
before the first byte and an SSE `error` event after it (the official openai SDK raises APIError); the
gateway's connections to that upstream and its asyncio tasks are back to their baseline afterwards."""

from __future__ import annotations

import openai
import pytest

from cerebra.providers.sse import MAX_EVENT_BYTES
from tests.cerebra.conftest import deployment
from tests.cerebra.fakes import wire
from tests.cerebra.fakes.wire import Reply
from tests.cerebra.leaks import established_to, served_loop, settle, task_count

HELLO = [{"role": "user", "content": "hi"}]
TIMEOUT_S = 1.0  # the deployment's timeout: a hang is noticed after this long


def _openai_frames() -> list[bytes]:
    return wire.openai_stream("gpt-4o-mini", Reply(text="one two three"), include_usage=False)


def _anthropic_frames() -> list[bytes]:
    return wire.anthropic_stream("claude-3-5-haiku-latest", Reply(text="one two three"))


# name -> (reply factory taking the provider's valid frames, what the caller sees)
STREAM_FAULTS = {
    "hang_mid_stream": lambda frames: Reply(hang_after_events=2),
    "reset_mid_stream": lambda frames: Reply(reset_after_events=2),
    "close_mid_stream": lambda frames: Reply(drop_after_events=2),
    "data_not_json": lambda frames: Reply(
        raw_stream=[*frames[:2], b"data: this is not json\n\n", *frames[2:]]
    ),
    "truncated_json": lambda frames: Reply(
        raw_stream=[*frames[:2], frames[2][: len(frames[2]) // 2] + b"\n\n"]
    ),
    "garbage_then_cut": lambda frames: Reply(raw_stream=[*frames[:2], b"\x00\xff garbage line\n\x17\n\n"]),
    "oversized_data_line": lambda frames: Reply(
        raw_stream=[*frames[:2], b'data: {"x":"' + b"a" * (MAX_EVENT_BYTES + 1024) + b'"}\n\n', *frames[2:]]
    ),
}


class Probe:
    """Baseline and after-fault figures of one served gateway."""

    def __init__(self, server, fake) -> None:  # type: ignore[no-untyped-def]
        self.fake = fake
        self.loop = served_loop(server)
        self.sockets = 0
        self.tasks = 0

    def baseline(self) -> None:
        self.sockets = established_to(self.fake.port)
        self.tasks = task_count(self.loop)

    def assert_back_to_baseline(self, label: str) -> None:
        sockets = settle(lambda: established_to(self.fake.port), self.sockets)
        tasks = settle(lambda: task_count(self.loop), self.tasks)
        print(
            f"\n{label}: connections to the upstream {self.sockets} -> {sockets}, "
            f"asyncio tasks {self.tasks} -> {tasks}"
        )
        assert sockets <= self.sockets, f"{label}: {sockets - self.sockets} upstream connections leaked"
        assert tasks <= self.tasks, f"{label}: {tasks - self.tasks} asyncio tasks leaked"


def _serve(gateway, fake, model: str, **overrides):  # type: ignore[no-untyped-def]
    server = gateway(
        {"chat": {"deployments": [deployment(fake, model, timeout_s=TIMEOUT_S)]}},
        oco_cerebra_retries=0,
        **overrides,
    )
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=_serve.key, max_retries=0, timeout=30)  # type: ignore[attr-defined]
    # warm up: one healthy JSON call and one healthy stream, so the pool and lazy tasks exist
    assert sdk.chat.completions.create(model="chat", messages=HELLO).choices[0].message.content
    assert [c for c in sdk.chat.completions.create(model="chat", messages=HELLO, stream=True)]
    probe = Probe(server, fake)
    probe.baseline()
    return sdk, probe


@pytest.fixture
def serve(gateway, cerebra_key):  # type: ignore[no-untyped-def]
    _serve.key = cerebra_key  # type: ignore[attr-defined]
    return lambda fake, model, **overrides: _serve(gateway, fake, model, **overrides)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_an_upstream_that_never_answers_is_a_504(serve, fake_openai, stream) -> None:  # type: ignore[no-untyped-def]
    sdk, probe = serve(fake_openai, "gpt-4o-mini")
    fake_openai.enqueue(Reply(hang=True))
    with pytest.raises(openai.APIStatusError) as failed:
        result = sdk.chat.completions.create(model="chat", messages=HELLO, stream=stream)
        if stream:
            list(result)  # type: ignore[arg-type]
    assert failed.value.status_code == 504
    assert failed.value.body["code"] == "upstream_timeout"
    probe.assert_back_to_baseline(f"hang before the first byte ({'stream' if stream else 'json'})")


async def test_an_upstream_that_drops_before_answering_is_a_502(serve, fake_openai) -> None:  # type: ignore[no-untyped-def]
    sdk, probe = serve(fake_openai, "gpt-4o-mini")
    fake_openai.enqueue(Reply(drop=True))
    with pytest.raises(openai.APIStatusError) as failed:
        sdk.chat.completions.create(model="chat", messages=HELLO)
    assert failed.value.status_code == 502
    probe.assert_back_to_baseline("connection closed before the first byte")


def _stream_fault(sdk, fake, reply: Reply) -> tuple[list[str], openai.APIError]:  # type: ignore[no-untyped-def]
    fake.enqueue(reply)
    texts: list[str] = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in sdk.chat.completions.create(model="chat", messages=HELLO, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                texts.append(chunk.choices[0].delta.content)
    assert not isinstance(failed.value, openai.APIStatusError), "the stream had already started: no status"
    return texts, failed.value


@pytest.mark.parametrize("fault", sorted(STREAM_FAULTS))
async def test_openai_stream_faults_end_in_an_error_event(serve, fake_openai, database, fault) -> None:  # type: ignore[no-untyped-def]
    sdk, probe = serve(fake_openai, "gpt-4o-mini")
    texts, error = _stream_fault(sdk, fake_openai, STREAM_FAULTS[fault](_openai_frames()))
    assert "one" not in "".join(texts[1:]), "content past the fault reached the client"
    assert error.message
    probe.assert_back_to_baseline(f"openai {fault}")


@pytest.mark.parametrize("fault", sorted(STREAM_FAULTS))
async def test_translated_stream_faults_end_in_an_error_event(serve, fake_anthropic, fault) -> None:  # type: ignore[no-untyped-def]
    sdk, probe = serve(fake_anthropic, "claude-3-5-haiku-latest")
    _stream_fault(sdk, fake_anthropic, STREAM_FAULTS[fault](_anthropic_frames()))
    probe.assert_back_to_baseline(f"anthropic {fault}")


async def test_many_faults_in_a_row_leave_nothing_behind(serve, fake_openai) -> None:  # type: ignore[no-untyped-def]
    """Leaks too small to see once add up: 30 faults of every kind, then the same baseline."""
    sdk, probe = serve(fake_openai, "gpt-4o-mini", oco_cerebra_cooldown_failures=1000)
    faults = sorted(STREAM_FAULTS)
    for n in range(30):
        _stream_fault(sdk, fake_openai, STREAM_FAULTS[faults[n % len(faults)]](_openai_frames()))
    assert sdk.chat.completions.create(model="chat", messages=HELLO).choices[0].message.content
    probe.assert_back_to_baseline("30 stream faults in a row")
