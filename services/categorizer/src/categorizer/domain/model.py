"""The `model` tier: a category for a transaction from its description, amount and merchant name alone.

A dictionary model, not a learned one. Its knowledge is in reviewed data files (`categorizer/data/`):
- `merchants.csv`: well-known US merchants (and the abbreviations banks print for them) -> PFC detailed;
- `keywords.csv`: keyword families, MCC-style (`payroll`, `zelle to`, `atm withdrawal`, `overdraft fee`) and
  words taken from the PFC descriptions (`dentist`, `daycare`, `car wash`).
Each row says which direction of money it applies to (Plaid's sign: a positive amount is money out), so
`UBER *TRIP` (out) is a ride and `UBER USA EDI PAYMNTS` (in) is gig income.

`predict` searches every run of one to a few tokens of the descriptor (and of `merchant_name`, when given)
in one index and keeps the best hit, ranked by:
1. its priority: what the transaction IS (a fee 4; a transfer, payroll, a loan payment 3) over who it is with
   (a merchant 2) over what the merchant's name suggests (`grill`, `dental`: 1), with generic words (`store`)
   and delivery platforms that wrap a restaurant's name (`DD *DOORDASH CHIPOTLE`) last (0);
2. a merchant over a keyword of the same priority;
3. the longer match (`costco gas` over `costco`);
4. the earlier position (`KLARNA* BESTBUY` is a BNPL payment).
Money in with no hit of its own is taken as a refund: a merchant or a descriptive keyword (priority 2 or
less) that applies to money out decides, with less confidence (`refund` in the reason).
No hit: None, and the caller falls back. The decision depends on nothing but its arguments and the data files.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import taxonomy
from .descriptors import Descriptors

MODEL_NAME = "keywords-v1"
MERCHANTS_FILE = "merchants.csv"
KEYWORDS_FILE = "keywords.csv"
_DIRECTIONS = ("in", "out", "any")
_GLUE_MIN = 6  # a merchant name this long may be glued to a suffix: PAYPAL *SPOTIFYUSAI, STEAMGAMES.COM
_GLUE_SUFFIX = 6
# confidence of a hit, by kind and priority: how often such a hit is right, a judgement, not a measurement
_MERCHANT_CONFIDENCE = {3: 0.9, 2: 0.9, 0: 0.6}
_KEYWORD_CONFIDENCE = {4: 0.95, 3: 0.9, 2: 0.8, 1: 0.6, 0: 0.4}
_REFUND_FACTOR = 0.8
_ANY_PRIORITY = frozenset(range(5))
_REFUND_PRIORITIES = frozenset(range(3))
_Rank = tuple[int, bool, int, int]  # priority, is a merchant, tokens matched, minus position: higher wins


@dataclass(frozen=True, slots=True)
class Prediction:
    primary: str
    detailed: str
    confidence: float
    merchant: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class _Entry:
    detailed: str
    direction: str
    priority: int
    is_merchant: bool
    merchant: str | None  # display name, merchants only
    reason: str


class DataFileError(ValueError):
    """A data file breaks its format: raised at load, naming the file and line."""


class Model:
    def __init__(self, descriptors: Descriptors, entries: dict[str, list[_Entry]]) -> None:
        self._descriptors = descriptors
        self._index = {gram: tuple(found) for gram, found in entries.items()}
        self._starts = frozenset(gram.split(" ", 1)[0] for gram in entries)
        self._longest = max((gram.count(" ") + 1 for gram in entries), default=1)
        self._glued = frozenset(
            gram
            for gram, found in entries.items()
            if " " not in gram and len(gram) >= _GLUE_MIN and any(e.is_merchant for e in found)
        )

    @classmethod
    def load(cls, read: Callable[[str], str] = taxonomy.read_data_file) -> Model:
        """Reads and checks the data files (once per call: keep the instance); `read(name)` returns a data
        file's text (the package's files by default)."""
        entries: dict[str, list[_Entry]] = {}
        merchant_columns = ("pattern", "merchant", "detailed", "direction", "weak")
        for line, row in _rows(read, MERCHANTS_FILE, merchant_columns):
            weak = row["weak"] == "1"
            entry = _Entry(
                detailed=_checked(MERCHANTS_FILE, line, row["detailed"], row["direction"]),
                direction=row["direction"],
                priority=0 if weak else (3 if row["direction"] == "in" else 2),
                is_merchant=True,
                merchant=row["merchant"],
                reason=f"merchant:{row['pattern']}",
            )
            entries.setdefault(row["pattern"], []).append(entry)
        for line, row in _rows(
            read, KEYWORDS_FILE, ("phrase", "detailed", "direction", "priority", "family")
        ):
            if row["priority"] not in ("0", "1", "2", "3", "4"):
                raise DataFileError(f"{KEYWORDS_FILE}:{line}: priority must be 0..4, not {row['priority']!r}")
            entry = _Entry(
                detailed=_checked(KEYWORDS_FILE, line, row["detailed"], row["direction"]),
                direction=row["direction"],
                priority=int(row["priority"]),
                is_merchant=False,
                merchant=None,
                reason=f"keyword:{row['phrase']}",
            )
            entries.setdefault(row["phrase"], []).append(entry)
        return cls(Descriptors.load(read), entries)

    def predict(
        self,
        description: str,
        amount: float,
        merchant_name: str | None = None,
        iso_currency_code: str | None = None,  # accepted for the callers' shape; US descriptors either way
    ) -> Prediction | None:
        segments = [self._descriptors.tokens(description)]
        if merchant_name:
            segments.insert(0, self._descriptors.tokens(merchant_name))
        if amount >= 0:
            chosen = self._best(segments, "out", _ANY_PRIORITY)
            return None if chosen is None else _prediction(chosen, refund=False)
        chosen = self._best(segments, "in", _ANY_PRIORITY)
        if chosen is not None:
            return _prediction(chosen, refund=False)
        chosen = self._best(segments, "out", _REFUND_PRIORITIES)
        return None if chosen is None else _prediction(chosen, refund=True)

    def normalize(self, text: str) -> str:
        """The merchant a descriptor names, lower case: a known merchant's canonical name (`AMZN Mktp
        US*2K4LL1` -> `amazon`), else the descriptor without its noise (`SQ *JOES TACOS Austin TX` ->
        `joes tacos`)."""
        parsed = self._descriptors.parse(text)
        best: _Rank | None = None
        chosen: _Entry | None = None
        for rank, entry in self._hits(parsed.tokens, "any", 0):
            if entry.is_merchant and entry.priority > 0 and (best is None or rank > best):
                best, chosen = rank, entry
        if chosen is not None and chosen.merchant is not None:
            return chosen.merchant.lower()
        return parsed.merchant_text

    def _best(
        self, segments: list[tuple[str, ...]], direction: str, priorities: frozenset[int]
    ) -> _Entry | None:
        best: _Rank | None = None
        chosen: _Entry | None = None
        position = 0
        for tokens in segments:
            for rank, entry in self._hits(tokens, direction, position):
                if entry.priority in priorities and (best is None or rank > best):
                    best, chosen = rank, entry
            position += len(tokens) + 1
        return chosen

    def _hits(self, tokens: tuple[str, ...], direction: str, offset: int) -> Iterator[tuple[_Rank, _Entry]]:
        """(rank, entry) for every index entry found in `tokens` that applies to `direction` ("any": all)."""
        index, starts, n = self._index, self._starts, len(tokens)
        for i, token in enumerate(tokens):
            if token in starts:
                for size in range(min(self._longest, n - i), 0, -1):
                    found = index.get(" ".join(tokens[i : i + size]) if size > 1 else token)
                    if found:
                        yield from _applicable(found, direction, size, offset + i)
            elif len(token) > _GLUE_MIN:
                for cut in range(len(token) - 1, max(_GLUE_MIN, len(token) - _GLUE_SUFFIX) - 1, -1):
                    if token[:cut] in self._glued:
                        yield from _applicable(index[token[:cut]], direction, 1, offset + i)
                        break


def _applicable(
    found: tuple[_Entry, ...], direction: str, size: int, position: int
) -> Iterator[tuple[_Rank, _Entry]]:
    for entry in found:
        if direction == "any" or entry.direction == "any" or entry.direction == direction:
            yield (entry.priority, entry.is_merchant, size, -position), entry


def _prediction(entry: _Entry, refund: bool) -> Prediction:
    if entry.is_merchant:
        confidence = _MERCHANT_CONFIDENCE.get(entry.priority, 0.9)
    else:
        confidence = _KEYWORD_CONFIDENCE[entry.priority]
    return Prediction(
        primary=taxonomy.primary_of(entry.detailed),
        detailed=entry.detailed,
        confidence=round(confidence * _REFUND_FACTOR, 2) if refund else confidence,
        merchant=entry.merchant,
        reason=f"{entry.reason};refund" if refund else entry.reason,
    )


def _rows(
    read: Callable[[str], str], name: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(read(name)))
    if tuple(reader.fieldnames or ()) != columns:
        raise DataFileError(f"{name}: columns must be {columns}, not {reader.fieldnames}")
    for row in reader:
        yield reader.line_num, row


def _checked(name: str, line: int, detailed: str, direction: str) -> str:
    if not taxonomy.is_valid(detailed):
        raise DataFileError(f"{name}:{line}: {detailed!r} is not a PFC v2 detailed category")
    if direction not in _DIRECTIONS:
        raise DataFileError(f"{name}:{line}: direction must be one of {_DIRECTIONS}, not {direction!r}")
    return detailed


@functools.cache
def default_model() -> Model:
    """The model built from the package's data files, loaded on first use and kept for the process."""
    return Model.load()


def normalize_description(text: str) -> str:
    """`Model.normalize` with the package's data: the merchant a bank descriptor names, lower case."""
    return default_model().normalize(text)
