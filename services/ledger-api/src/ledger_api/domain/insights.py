"""What an insight asks for, checked before any SQL, and the rules the insights' SQL is built from.

Amounts are in Plaid's sign: positive = money OUT of the account (a purchase, a bill, a transfer out),
negative = money IN (a paycheck, a refund, a transfer in). Spending counts money out; cash flow counts
money in as income and money out as expenses. A transfer between two of the user's own accounts is
neither: both legs are left out (see `TRANSFER_PRIMARIES`).

The recurring-stream cadences are data (`CADENCES`): adapters/insights_store.py turns them into SQL, so
the classification runs in PostgreSQL over the user's rows, never in a Python loop.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from .errors import InvalidQuery

# A window longer than this is refused (a per-day series of ten years is 3,660 points).
MAX_WINDOW_DAYS = 3660
DEFAULT_WINDOW_DAYS = 365
# The dates a window may hold: the calendar but its two ends, which reach PostgreSQL as -infinity and
# infinity (asyncpg's encoding of date.min and date.max), and a series of periods to infinity never ends.
EARLIEST, LATEST = date.min + timedelta(1), date.max - timedelta(1)

# The effective primary categories whose rows may be one leg of a transfer between the user's own
# accounts; a row is such a leg when another of the user's accounts holds the opposite amount within
# TRANSFER_PAIR_DAYS (a card payment: LOAN_PAYMENTS out of checking, TRANSFER_IN on the card).
TRANSFER_PRIMARIES = ("TRANSFER_IN", "TRANSFER_OUT", "LOAN_PAYMENTS")
TRANSFER_PAIR_DAYS = 5

# Account types whose balance is owed (Plaid: `balance_current` of a credit or loan account is what is
# owed, positive); every other type's balance is an asset.
LIABILITY_TYPES = ("credit", "loan")

# The categorizer flags a decision less sure than this for review (categorizer's REVIEW_BELOW).
REVIEW_CONFIDENCE_BELOW = 0.5


class GroupBy(StrEnum):
    CATEGORY = "category"
    DETAILED_CATEGORY = "detailed_category"
    MERCHANT = "merchant"
    MONTH = "month"
    ACCOUNT = "account"


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def shift(day: date, days: int, field: str) -> date:
    """`day` moved by `days`; InvalidQuery naming `field` when that leaves EARLIEST..LATEST."""
    try:
        moved = day + timedelta(days)
    except OverflowError:
        moved = date.min
    if not EARLIEST <= moved <= LATEST:
        raise InvalidQuery(field, f"{field} is too close to the end of the calendar ({EARLIEST}..{LATEST})")
    return moved


def on_calendar(day: date, field: str) -> date:
    if not EARLIEST <= day <= LATEST:
        raise InvalidQuery(field, f"{field} must be between {EARLIEST} and {LATEST}")
    return day


@dataclass(frozen=True)
class Window:
    """Dates, both included. Missing ends default to the DEFAULT_WINDOW_DAYS ending at `today`."""

    from_date: date
    to_date: date

    @classmethod
    def of(cls, from_date: date | None, to_date: date | None, today: date) -> "Window":
        span = DEFAULT_WINDOW_DAYS - 1
        if to_date is not None:
            to = on_calendar(to_date, "to")
        else:
            to = today if from_date is None else shift(from_date, span, "from")
        start = on_calendar(from_date, "from") if from_date is not None else shift(to, -span, "to")
        if start > to:
            raise InvalidQuery("from", "the date range is inverted: from must be on or before to")
        if (to - start).days + 1 > MAX_WINDOW_DAYS:
            raise InvalidQuery("from", f"the date range spans more than {MAX_WINDOW_DAYS} days")
        return cls(start, to)


@dataclass(frozen=True)
class Scope:
    """Which of the user's transactions an aggregate counts (removed ones never)."""

    user_id: str
    window: Window
    currency: str = "USD"
    include_pending: bool = False
    include_hidden: bool = False


@dataclass(frozen=True)
class Cadence:
    """A recurring stream's rhythm. A gap between two of a stream's dates is on time for a cadence when it
    is in `gap_range` (weekends move a charge a day or two); a stream has the cadence at least
    `REGULAR_SHARE` of its gaps are on time for (the ranges do not overlap, except biweekly's within
    semi-monthly's: those two are told apart by the mean of the gaps in 12..19 days, `split_mean`: 14.0
    against 365.25/24 = 15.2), with at least `min_occurrences` dates. A missed payment is one gap off.
    The next date is the last one plus `step` (semi-monthly: the one before last plus a month, as the
    stream alternates between two days of the month). Still active while `as_of` is on or before the
    predicted date plus `grace_days`."""

    name: str
    gap_range: tuple[int, int]
    min_occurrences: int
    step: str  # a PostgreSQL interval
    grace_days: int
    split_mean: tuple[float, float] = (0.0, 1e9)
    max_spread: float = 1.6  # the largest amount at most this times the smallest


REGULAR_SHARE = 0.75
CADENCES = (
    Cadence("weekly", (5, 9), 4, "7 days", 4),
    Cadence("biweekly", (12, 16), 3, "14 days", 5, (0.0, 14.6)),
    Cadence("semi_monthly", (12, 19), 4, "1 month", 6, (14.6, 1e9)),
    Cadence("monthly", (25, 36), 3, "1 month", 7),
    # two payments a year apart at a similar price happen by chance: annual asks for a closer price, and
    # for the anniversary within a week (a renewal falls on its date; a weekend or a retry moves it days)
    Cadence("annual", (358, 372), 2, "1 year", 30, max_spread=1.1),
)

# Amounts of one stream: sorted by size, a step of more than this share of the smaller amount (or of
# AMOUNT_STEP_MIN, whichever is more) starts another stream at the same merchant; a stream whose largest
# amount exceeds its smallest by more than its cadence's `max_spread` is not a stream but shopping.
AMOUNT_STEP_SHARE = 0.2
AMOUNT_STEP_MIN = 2.0
DEFAULT_LOOKBACK_DAYS = 730


@dataclass(frozen=True)
class RecurringQuery:
    user_id: str
    as_of: date
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    currency: str = "USD"

    @property
    def since(self) -> date:
        return shift(self.as_of, -self.lookback_days, "as_of")


@dataclass(frozen=True)
class ReviewQuery:
    user_id: str
    window: Window
    confidence_below: float = REVIEW_CONFIDENCE_BELOW
    limit: int = 100
