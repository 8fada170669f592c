"""The content identity of a load: an order-independent digest of its ledger rows' values, the same whatever
the file's name, compression, format or row order, and the same from the strict parser and the pyarrow path.

Each value hashes to 64 bits (text: BLAKE2b of its canonical text; numbers: their exact value, so 1.50, 1.5
and 1.5e0 agree; tags: their JSON with sorted keys); a row's hash mixes its 45 column hashes by position;
the digest is the row count and two 64-bit sums of the row hashes (a multiset hash: order does not matter,
a duplicated row does). Vectorized with pyarrow compute on Arrow tables, memoized per value on Python rows.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from economist.ledger.columns import LEDGER_COLUMNS

MASK64 = (1 << 64) - 1
_U64 = pa.uint64()
_NULL_HASH = 0x6A09E667F3BCC908
_NUMBER_LO, _NUMBER_HI = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F
_LANE_B = 0xD6E8FEB86659FD93
_LOW32 = 0xFFFFFFFF
_SCALE = 18  # numbers hash by their value times 10**18 when that is an integer of at most 38 digits
_LIMIT = 10**38
_EXACT = pa.decimal128(38, _SCALE)
_MEMO_LIMIT = 200_000
_PENDING_ROWS = 16_384
#: the hashed columns, in order, with an odd multiplier each (the position of a value matters)
HASHED: tuple[tuple[str, str, int], ...] = tuple(
    (c.name, c.kind, ((i + 1) * 0xA24BAED4963EE407) & MASK64 | 1) for i, c in enumerate(LEDGER_COLUMNS)
)


def mix(x: int) -> int:
    """splitmix64's finalizer on a Python int."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def _u(value: int) -> pa.Scalar:
    return pa.scalar(value, _U64)


def mix_array(x: pa.Array) -> pa.Array:
    """mix() on every element of a uint64 array (pyarrow's unchecked arithmetic wraps like C)."""
    x = pc.add(x, _u(0x9E3779B97F4A7C15))
    x = pc.multiply(pc.bit_wise_xor(x, pc.shift_right(x, _u(30))), _u(0xBF58476D1CE4E5B9))
    x = pc.multiply(pc.bit_wise_xor(x, pc.shift_right(x, _u(27))), _u(0x94D049BB133111EB))
    return pc.bit_wise_xor(x, pc.shift_right(x, _u(31)))


def text_hash(text: str | None) -> int:
    """The hash of a text value (None: the null hash)."""
    if text is None:
        return _NULL_HASH
    return int.from_bytes(
        hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


def _scaled(value: Decimal) -> int | None:
    """value * 10**18 when that is an integer below 10**38 in magnitude, else None."""
    if value.is_zero():
        return 0
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return None
    number = int("".join(map(str, digits)) or "0")
    shift = exponent + _SCALE
    if shift >= 0:
        if shift > 40:
            return None
        number *= 10**shift
    else:
        number, rest = divmod(number, 10**-shift)
        if rest:
            return None
    if number >= _LIMIT:
        return None
    return -number if sign else number


def _words_hash(lo: int, hi: int) -> int:
    return mix((lo * _NUMBER_LO + hi * _NUMBER_HI) & MASK64)


def number_hash(value: Decimal | None) -> int:
    """The hash of a number by its value (None: the null hash)."""
    if value is None:
        return _NULL_HASH
    scaled = _scaled(value)
    if scaled is None:  # beyond the exact 128-bit form: its normalized text
        return text_hash("n:" + format(value.normalize(), "f"))
    return _words_hash(scaled & MASK64, (scaled >> 64) & MASK64)


def canonical_tags_text(tags: dict[str, str] | None) -> str:
    """Tags as JSON with sorted keys (an empty object for none)."""
    return orjson.dumps(tags or {}, option=orjson.OPT_SORT_KEYS).decode()


class RowDigest:
    """Accumulates the digest of a load's rows: add Arrow tables (the fast path's text columns) or ledger row
    dicts (the strict path), in any order and any batching; `hexdigest()` at the end."""

    def __init__(self) -> None:
        self.rows = 0
        self._a = [0, 0]  # lane A: sums of the low and high 32 bits of the row hashes
        self._b = [0, 0]
        self._memo: list[dict[Any, int]] = [{} for _ in HASHED]  # per column: value -> hash
        self._memo_size = 0
        self._pending: list[pa.Table] = []  # small tables wait to be hashed together (fewer Arrow calls)
        self._pending_rows = 0

    def hexdigest(self) -> str:
        self.flush()
        a = (self._a[0] + (self._a[1] << 32)) & MASK64
        b = (self._b[0] + (self._b[1] << 32)) & MASK64
        return f"{self.rows}:{a:016x}{b:016x}"

    # -- shared --

    def _memoized(self, position: int, value: Any, compute: Any) -> int:
        memo = self._memo[position]
        found = memo.get(value)
        if found is None:
            if self._memo_size >= _MEMO_LIMIT:
                for each in self._memo:
                    each.clear()
                self._memo_size = 0
            found = memo[value] = compute(value)
            self._memo_size += 1
        return found

    def _combine(self, columns: list[tuple[int, pa.Array]], constant: int, rows: int) -> None:
        """Add rows whose column hashes are given (position multiplier, uint64 array); `constant` is the sum
        of the multiplied hashes of the columns that are the same on every row."""
        if rows == 0:
            return
        acc: pa.Array = pa.repeat(_u(constant & MASK64), rows)
        for multiplier, hashes in columns:
            acc = pc.add(acc, pc.multiply(hashes, _u(multiplier)))
        row = mix_array(acc)
        other = mix_array(pc.bit_wise_xor(row, _u(_LANE_B)))
        for lane, values in ((self._a, row), (self._b, other)):
            lane[0] += pc.sum(pc.bit_wise_and(values, _u(_LOW32))).as_py() or 0
            lane[1] += pc.sum(pc.shift_right(values, _u(32))).as_py() or 0
        self.rows += rows

    # -- Python rows (strict path) --

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Add ledger rows (dicts keyed by ledger column names, typed values)."""
        if not rows:
            return
        columns: list[tuple[int, pa.Array]] = []
        for position, (name, kind, multiplier) in enumerate(HASHED):
            values = [row.get(name) for row in rows]
            if kind in ("money", "quantity"):
                hashes = [self._memoized(position, v, number_hash) for v in values]
            elif kind == "json":
                hashes = [text_hash(canonical_tags_text(v)) for v in values]
            elif kind == "datetime":
                hashes = [
                    self._memoized(position, v, lambda d: text_hash(d.isoformat() if d else None))
                    for v in values
                ]
            else:
                hashes = [self._memoized(position, v, text_hash) for v in values]
            columns.append((multiplier, pa.array(hashes, _U64)))
        self._combine(columns, 0, len(rows))

    # -- Arrow tables (fast path) --

    def add_table(self, table: pa.Table) -> None:
        """Add rows of a table in COPY layout: every ledger column as text (numbers as their source text,
        datetimes as ISO 8601 with offset, tags as JSON), nulls where absent."""
        if table.num_rows == 0:
            return
        self._pending.append(table.select([name for name, _kind, _m in HASHED]))
        self._pending_rows += table.num_rows
        if self._pending_rows >= _PENDING_ROWS:
            self.flush()

    def flush(self) -> None:
        """Hash the tables that wait."""
        if not self._pending:
            return
        table = pa.concat_tables(self._pending)
        self._pending, self._pending_rows = [], 0
        self._add_arrow(table)

    def _add_arrow(self, table: pa.Table) -> None:
        rows = table.num_rows
        columns: list[tuple[int, pa.Array]] = []
        constant = 0
        for position, (name, kind, multiplier) in enumerate(HASHED):
            column = table.column(name)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            if column.null_count == rows:
                constant += _NULL_HASH * multiplier
                continue
            if kind in ("money", "quantity"):
                hashes = self._number_hashes(position, column)
            elif kind == "json":
                hashes = self._by_value(
                    position, column, lambda t: text_hash(canonical_tags_text(orjson.loads(t) if t else None))
                )
            else:
                hashes = self._by_value(position, column, text_hash)
            columns.append((multiplier, hashes))
        self._combine(columns, constant, rows)

    def _by_value(self, position: int, column: pa.Array, compute: Any) -> pa.Array:
        encoded = pc.dictionary_encode(column)
        values = encoded.dictionary.to_pylist()
        if len(values) * 2 > len(column):  # mostly distinct: a memo would not pay for itself
            hashes = [compute(v) for v in values]
        else:
            hashes = [self._memoized(position, v, compute) for v in values]
        mapped = pa.array(hashes + [_NULL_HASH], _U64)
        return pc.take(mapped, pc.fill_null(encoded.indices, len(values)))

    def _number_hashes(self, position: int, column: pa.Array) -> pa.Array:
        from economist.sources.focus_arrow import exact_decimals  # the same exact cast as the rollup's

        try:
            exact = exact_decimals(column)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return self._by_value(position, column, lambda t: number_hash(Decimal(t)))
        if isinstance(exact, pa.ChunkedArray):
            exact = exact.combine_chunks()
        words = pa.Array.from_buffers(
            _U64, 2 * len(exact), [None, exact.buffers()[1]], offset=2 * exact.offset
        )
        pairs = pa.FixedSizeListArray.from_arrays(words, 2)
        lo, hi = pc.list_element(pairs, 0), pc.list_element(pairs, 1)
        hashes = mix_array(pc.add(pc.multiply(lo, _u(_NUMBER_LO)), pc.multiply(hi, _u(_NUMBER_HI))))
        if exact.null_count:
            hashes = pc.if_else(pc.is_null(exact), _u(_NULL_HASH), hashes)
        return hashes


def digest_rows(rows: list[dict[str, Any]]) -> str:
    """The digest of a list of ledger rows (tests, small loads)."""
    digest = RowDigest()
    digest.add_rows(rows)
    return digest.hexdigest()
