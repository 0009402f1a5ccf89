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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from . import taxonomy
from .descriptors import Descriptors

MODEL_NAME = "keywords-v2"
MERCHANTS_FILE = "merchants.csv"
KEYWORDS_FILE = "keywords.csv"
_DIRECTIONS = ("in", "out", "any")
_GLUE_MIN = 6  # a merchant name this long may be glued to a suffix: PAYPAL *SPOTIFYUSAI, STEAMGAMES.COM
_GLUE_SUFFIX = 6
# confidence of a hit, by kind and priority: how often such a hit is right, a judgement, not a measurement
_MERCHANT_CONFIDENCE = {3: 0.9, 2: 0.9, 0: 0.6}
_KEYWORD_CONFIDENCE = {4: 0.95, 3: 0.9, 2: 0.8, 1: 0.6, 0: 0.4}
_REFUND_FACTOR = 0.8
_REFUND_MAX_PRIORITY = 2
_Rank = tuple[int, bool, int, int]  # priority, is a merchant, tokens matched, minus position: higher wins


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the model decided: a PFC v2 category, how sure (0..1), the merchant it recognised (display name,
    None when a keyword decided) and what decided (`merchant:starbucks`, `keyword:payroll`)."""

    primary: str
    detailed: str
    confidence: float
    merchant: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class _Entry:
    direction: str
    priority: int
    is_merchant: bool
    prediction: Prediction  # what this entry decides, built once at load


class DataFileError(ValueError):
    """A data file breaks its format: raised at load, naming the file and line."""


class Model:
    """Merchants and keyword phrases indexed once by `load()`; `predict` and `normalize` are pure."""

    def __init__(self, descriptors: Descriptors, entries: dict[str, list[_Entry]]) -> None:
        self._descriptors = descriptors
        # every entry of a phrase, for the filtered searches (refunds, normalize)
        self._index = {gram: tuple(found) for gram, found in entries.items()}
        # per direction of money, the one entry that would win for a phrase: the hot path looks up one
        self._fast = {
            direction: {
                gram: (best,)
                for gram, found in entries.items()
                if (best := max(_applying(found, direction), key=_head, default=None)) is not None
            }
            for direction in ("in", "out")
        }
        sizes: dict[str, set[int]] = {}
        for gram in entries:
            sizes.setdefault(gram.split(" ", 1)[0], set()).add(gram.count(" ") + 1)
        self._sizes = {start: tuple(sorted(found)) for start, found in sizes.items()}
        self._glued = frozenset(
            gram
            for gram, found in entries.items()
            if " " not in gram and len(gram) >= _GLUE_MIN and any(e.is_merchant for e in found)
        )

    @classmethod
    def load(cls, read: Callable[[str], str] = taxonomy.read_data_file) -> Model:
        """Reads and checks the data files (once per call: keep the instance); `read(name)` returns a data
        file's text (the package's files by default)."""
        descriptors = Descriptors.load(read)
        entries: dict[str, list[_Entry]] = {}
        for phrase, entry in _entries(read):
            # a phrase is found as a descriptor's tokens read: E470 -> "e 470", H&M -> "hm"
            entries.setdefault(" ".join(descriptors.tokens(phrase)), []).append(entry)
        return cls(descriptors, entries)

    def predict(
        self,
        description: str,
        amount: float,
        merchant_name: str | None = None,
        iso_currency_code: str | None = None,  # accepted for the callers' shape; US descriptors either way
    ) -> Prediction | None:
        tokens = self._descriptors.tokens
        segments = [tokens(merchant_name), tokens(description)] if merchant_name else [tokens(description)]
        if amount >= 0:
            chosen = self._best(segments, self._fast["out"], None)
            return None if chosen is None else chosen.prediction
        chosen = self._best(segments, self._fast["in"], None)
        if chosen is not None:
            return chosen.prediction
        chosen = self._best(segments, self._index, _refund)
        if chosen is None:
            return None
        p = chosen.prediction
        confidence = round(p.confidence * _REFUND_FACTOR, 2)
        return Prediction(p.primary, p.detailed, confidence, p.merchant, p.reason + ";refund")

    def normalize(self, text: str) -> str:
        """The merchant a descriptor names, lower case: a known merchant's canonical name (`AMZN Mktp
        US*2K4LL1` -> `amazon`), else the descriptor without its noise (`SQ *JOES TACOS Austin TX` ->
        `joes tacos`)."""
        parsed = self._descriptors.parse(text)
        chosen = self._best([parsed.tokens], self._index, _names_itself)
        if chosen is not None and chosen.prediction.merchant is not None:
            return chosen.prediction.merchant.lower()
        return parsed.merchant_text

    def _best(
        self,
        segments: list[tuple[str, ...]],
        index: Mapping[str, tuple[_Entry, ...]],
        accept: Callable[[_Entry], bool] | None,
    ) -> _Entry | None:
        """The best-ranked entry of `index` found in `segments` (and `accept`ed, when given).

        The hot loop of `predict`: a dictionary lookup per token, and one per longer phrase only where the
        index holds a phrase of that length starting with this token."""
        sizes_by_start = self._sizes
        best: _Rank | None = None
        chosen: _Entry | None = None
        position = 0
        for tokens in segments:
            n = len(tokens)
            for i, token in enumerate(tokens):
                sizes = sizes_by_start.get(token)
                if sizes is None:
                    if len(token) <= _GLUE_MIN or (glued := self._glued_prefix(token)) is None:
                        continue
                    token, sizes = glued, (1,)
                for size in sizes:
                    if size > n - i:
                        break
                    found = index.get(token if size == 1 else " ".join(tokens[i : i + size]))
                    if found is None:
                        continue
                    for entry in found:
                        if accept is not None and not accept(entry):
                            continue
                        rank = (entry.priority, entry.is_merchant, size, -position - i)
                        if best is None or rank > best:
                            best, chosen = rank, entry
            position += n + 1
        return chosen

    def _glued_prefix(self, token: str) -> str | None:
        """A known merchant name a token starts with, glued to a short suffix (SPOTIFYUSAI -> spotify)."""
        for cut in range(len(token) - 1, max(_GLUE_MIN, len(token) - _GLUE_SUFFIX) - 1, -1):
            if token[:cut] in self._glued and token[cut:] != "s":  # MURPHYS is not Murphy USA
                return token[:cut]
        return None


def _head(entry: _Entry) -> tuple[int, bool]:
    return entry.priority, entry.is_merchant


def _applying(found: list[_Entry], direction: str) -> list[_Entry]:
    return [e for e in found if e.direction in ("any", direction)]


def _refund(entry: _Entry) -> bool:
    """What decides money in that nothing else explains: a merchant or descriptive word for money out."""
    return entry.direction != "in" and entry.priority <= _REFUND_MAX_PRIORITY


def _names_itself(entry: _Entry) -> bool:
    """A merchant that names itself (not a delivery platform wrapping another's name)."""
    return entry.is_merchant and entry.priority > 0


def _entries(read: Callable[[str], str]) -> Iterator[tuple[str, _Entry]]:
    for line, row in _rows(read, MERCHANTS_FILE, ("pattern", "merchant", "detailed", "direction", "weak")):
        direction = _checked(MERCHANTS_FILE, line, row["detailed"], row["direction"])
        priority = 0 if row["weak"] == "1" else (3 if direction == "in" else 2)
        confidence = _MERCHANT_CONFIDENCE[priority]
        reason = f"merchant:{row['pattern']}"
        yield (
            row["pattern"],
            _entry(direction, priority, True, row["detailed"], confidence, row["merchant"], reason),
        )
    for line, row in _rows(read, KEYWORDS_FILE, ("phrase", "detailed", "direction", "priority", "family")):
        direction = _checked(KEYWORDS_FILE, line, row["detailed"], row["direction"])
        if row["priority"] not in ("0", "1", "2", "3", "4"):
            raise DataFileError(f"{KEYWORDS_FILE}:{line}: priority must be 0..4, not {row['priority']!r}")
        priority = int(row["priority"])
        reason = f"keyword:{row['phrase']}"
        yield (
            row["phrase"],
            _entry(direction, priority, False, row["detailed"], _KEYWORD_CONFIDENCE[priority], None, reason),
        )


def _entry(
    direction: str,
    priority: int,
    is_merchant: bool,
    detailed: str,
    confidence: float,
    merchant: str | None,
    reason: str,
) -> _Entry:
    prediction = Prediction(taxonomy.primary_of(detailed), detailed, confidence, merchant, reason)
    return _Entry(direction, priority, is_merchant, prediction)


def _rows(
    read: Callable[[str], str], name: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(read(name)))
    if tuple(reader.fieldnames or ()) != columns:
        raise DataFileError(f"{name}: columns must be {columns}, not {reader.fieldnames}")
    for row in reader:
        yield reader.line_num, row


def _checked(name: str, line: int, detailed: str, direction: str) -> str:
    """The row's direction, once its category and direction are known to be valid."""
    if not taxonomy.is_valid(detailed):
        raise DataFileError(f"{name}:{line}: {detailed!r} is not a PFC v2 detailed category")
    if direction not in _DIRECTIONS:
        raise DataFileError(f"{name}:{line}: direction must be one of {_DIRECTIONS}, not {direction!r}")
    return direction


@functools.cache
def default_model() -> Model:
    """The model built from the package's data files, loaded on first use and kept for the process."""
    return Model.load()


def normalize_description(text: str) -> str:
    """`Model.normalize` with the package's data: the merchant a bank descriptor names, lower case."""
    return default_model().normalize(text)
