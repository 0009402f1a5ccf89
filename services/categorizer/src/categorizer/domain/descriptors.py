"""How a US bank descriptor is taken apart: the tokens to search, and the merchant text left without noise.

`SQ *BLUE BOTTLE COFF Oakland CA`, `CHECKCARD 0412 SHELL OIL 57442650500 HOUSTON TX`, `PURCHASE AUTHORIZED ON
03/18 KROGER #0423 COLUMBUS OH S461102754384 CARD 4821`: a processor's prefix, a bank's purchase wording,
dates, card and reference numbers, store numbers, phone numbers, and a city and state. The shapes are syntax
(the regular expressions below); the words (processors, noise phrases, states, cities) are data
(`data/descriptor_noise.json`).

Two views of one descriptor:
- `tokens`: lower-case words and numbers (letters and digits apart), without punctuation, masks and long
  reference numbers: the model searches these for merchants and keywords (`ATM WITHDRAWAL`, `ZELLE TO`).
- `merchant_text`: the same tokens without the bank's wording, store numbers, city and state: `blue bottle
  coff`, `shell oil`, `kroger`. What is left names the merchant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from .taxonomy import read_data_file

NOISE_FILE = "descriptor_noise.json"

_DATE = re.compile(r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b")
_PHONE = re.compile(r"\b\d{3}[-.]\d{3}[-.]?\d{4}\b|\b\d{3}-\d{7}\b")
_WORD = re.compile(
    r"[a-z]+|[0-9]+"
)  # letters and digits apart: AIR0012345 -> air 0012345, 7-ELEVEN -> 7 eleven
_JOINED = str.maketrans("", "", "'\u2019&")  # dropped, not split: KOHL'S -> kohls, H&M -> hm, AT&T -> att


@dataclass(frozen=True, slots=True)
class Parsed:
    tokens: tuple[str, ...]
    merchant_text: str


class Descriptors:
    """The noise tables, read once; `parse` is pure and safe to share between threads."""

    def __init__(
        self,
        processor_prefixes: list[str],
        noise_phrases: list[str],
        us_states: list[str],
        us_cities: list[str],
    ) -> None:
        alternatives = "|".join(sorted((re.escape(p) for p in processor_prefixes), key=len, reverse=True))
        self._prefix = re.compile(rf"^\s*(?:{alternatives})\s*\*\s*")
        self._noise = _by_first({self.tokens(p) for p in noise_phrases})
        self._states = frozenset(us_states)
        cities = {self.tokens(c) for c in us_cities}
        self._cities = _by_first(cities)
        self._city_longest = max((len(c) for c in cities), default=0)

    @classmethod
    def load(cls, read: Callable[[str], str] = read_data_file) -> Descriptors:
        data = json.loads(read(NOISE_FILE))
        return cls(data["processor_prefixes"], data["noise_phrases"], data["us_states"], data["us_cities"])

    def tokens(self, text: str) -> tuple[str, ...]:
        """The words and numbers of `text`, lower case; masks (XXXXXX1234, XXSOC) and reference numbers of
        8 digits or more dropped. Runs once per transaction: plain string methods, one regular expression."""
        text = text.lower()
        if "*" in text:
            text = self._prefix.sub("", text, count=1)
        if "+" in text:
            text = text.replace("+", " plus ")
        out = []
        for token in _WORD.findall(text.translate(_JOINED)):
            if token[0] == "x" and token.startswith("xx"):
                token = token.lstrip("x")
                if not token:
                    continue
            elif len(token) >= 8 and token.isdigit():
                continue
            out.append(token)
        return tuple(out)

    def parse(self, text: str) -> Parsed:
        tokens = self.tokens(text)
        # dates and phone numbers would read as store numbers: out of the merchant text before it is cut
        # (most descriptors have neither, and neither can be there without its separator)
        words = tokens
        if "/" in text or "-" in text or "." in text:
            lowered = text.lower()
            cleaned = _PHONE.sub(" ", _DATE.sub(" ", lowered))
            if cleaned != lowered:
                words = self.tokens(cleaned)
        return Parsed(tokens, self.merchant_text(words))

    def merchant_text(self, tokens: tuple[str, ...]) -> str:
        kept: list[str] = []
        for word in self._without_noise(tokens):
            if not word.isdigit():  # a token is letters only or digits only
                kept.append(word)
            elif kept:  # a store, card or reference number: the merchant's name came before it
                break
            elif len(word) <= 3:  # 7-ELEVEN, 1-800-FLOWERS, 99 RANCH
                kept.append(word)
        if len(kept) > 1 and kept[-1] in self._states:
            kept.pop()
        for i in range(max(len(kept) - self._city_longest, 1), len(kept)):  # the longest city at the end
            if tuple(kept[i:]) in self._cities.get(kept[i], ()):
                del kept[i:]
                break
        return " ".join(kept)

    def _without_noise(self, tokens: tuple[str, ...]) -> list[str]:
        out: list[str] = []
        i, n = 0, len(tokens)
        noise = self._noise
        while i < n:
            for phrase in noise.get(tokens[i], ()):  # the longest first
                if tokens[i : i + len(phrase)] == phrase:
                    i += len(phrase)
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out


def _by_first(phrases: set[tuple[str, ...]]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Phrases by their first token, the longest first: a token that starts none costs one lookup."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for phrase in phrases:
        if phrase:
            out.setdefault(phrase[0], []).append(phrase)
    return {first: tuple(sorted(found, key=len, reverse=True)) for first, found in out.items()}
