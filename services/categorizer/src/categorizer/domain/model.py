"""PLACEHOLDER (branch h5-categorizer): replaced by the model branch (h4-model) at merge.

The interface the categorizer depends on: `Model.load()`, `model.predict(...) -> Prediction | None`,
`MODEL_NAME`, `normalize_description(text)`. This stand-in knows a handful of keywords only.
"""

import re
from dataclasses import dataclass

MODEL_NAME = "placeholder-keywords-0"

_NOISE = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\b\w*\d\w*\b")
_PREFIXES = ("sq ", "tst ", "pos ", "checkcard ", "debit ", "purchase ")

_KEYWORDS: tuple[tuple[str, str, str], ...] = (
    ("starbucks", "FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE"),
    ("coffee", "FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE"),
    ("uber", "TRANSPORTATION", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"),
    ("payroll", "INCOME", "INCOME_SALARY"),
    ("amazon", "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
    ("amzn", "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
)


@dataclass(frozen=True)
class Prediction:
    primary: str
    detailed: str
    confidence: float
    merchant: str | None
    reason: str


def normalize_description(text: str) -> str:
    """Lower case, punctuation, card prefixes and tokens holding digits removed, spaces collapsed."""
    t = _NOISE.sub(" ", text.lower())
    t = _DIGITS.sub(" ", t)
    t = _SPACES.sub(" ", t).strip()
    for prefix in _PREFIXES:
        if t.startswith(prefix):
            t = t[len(prefix) :]
    return t


class Model:
    @classmethod
    def load(cls) -> "Model":
        return cls()

    def predict(
        self,
        description: str,
        amount: float,
        merchant_name: str | None = None,
        iso_currency_code: str | None = None,
    ) -> Prediction | None:
        text = normalize_description(f"{merchant_name or ''} {description}")
        for word, primary, detailed in _KEYWORDS:
            if word in text:
                merchant = normalize_description(merchant_name) if merchant_name else None
                return Prediction(primary, detailed, 0.7, merchant, f"keyword:{word}")
        return None
