"""The incremental SSE parser: framing variants and arbitrary byte splits."""

from __future__ import annotations

import random

import pytest

from cerebra.providers.sse import SSEEvent, SSEParser


def feed_in_pieces(data: bytes, sizes: list[int] | None = None, step: int = 1) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    i = 0
    k = 0
    while i < len(data):
        n = sizes[k % len(sizes)] if sizes else step
        events += parser.feed(data[i : i + n])
        i += n
        k += 1
    return events + parser.flush()


STREAM_LF = b'data: {"a":1}\n\nevent: message_start\ndata: {"b":2}\n\n: comment\n\ndata: [DONE]\n\n'
EXPECTED = [SSEEvent(None, b'{"a":1}'), SSEEvent("message_start", b'{"b":2}'), SSEEvent(None, b"[DONE]")]


@pytest.mark.parametrize(
    "stream",
    [STREAM_LF, STREAM_LF.replace(b"\n", b"\r\n"), STREAM_LF.replace(b"\n", b"\r")],
    ids=["lf", "crlf", "cr"],
)
@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_framings_and_splits_give_the_same_events(stream: bytes, step: int) -> None:
    assert feed_in_pieces(stream, step=step) == EXPECTED


def test_random_splits_of_a_long_crlf_stream() -> None:
    frames = [b'data: {"n":%d,"text":"caf\xc3\xa9 \\n"}\r\n\r\n' % i for i in range(200)]
    data = b"".join(frames)
    rng = random.Random(4)
    for _ in range(20):
        sizes = [rng.randint(1, 40) for _ in range(50)]
        events = feed_in_pieces(data, sizes)
        assert [e.data for e in events] == [f[6:-4] for f in frames]


def test_crlf_split_between_cr_and_lf_is_not_a_double_newline() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n") == []  # only one line ending so far
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\ndata: y") == [SSEEvent(None, b"x")]
    assert parser.flush() == [SSEEvent(None, b"y")]


def test_multiline_data_event_field_without_space_and_ignored_fields() -> None:
    data = b"id: 7\nretry: 100\nevent:ping\ndata:first\ndata: second\n\n"
    assert feed_in_pieces(data, step=5) == [SSEEvent("ping", b"first\nsecond")]


def test_event_without_data_is_not_dispatched() -> None:
    parser = SSEParser()
    assert parser.feed(b"event: lonely\n\n: just a comment\n\n\n\n") == []
    assert parser.pending == b""


def test_several_events_in_one_chunk_and_a_partial_tail() -> None:
    parser = SSEParser()
    out = parser.feed(b"data: 1\n\ndata: 2\n\ndata: 3")
    assert out == [SSEEvent(None, b"1"), SSEEvent(None, b"2")]
    assert parser.pending == b"data: 3"
    assert parser.feed(b"\n\n") == [SSEEvent(None, b"3")]
    assert parser.flush() == []
