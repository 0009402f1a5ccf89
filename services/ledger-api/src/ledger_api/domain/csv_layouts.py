"""Bank CSV exports: the layouts ledger-api reads, and reading one line of a file into a row or a reason.

A layout names the columns of the date, the description, the amount (one signed column, or separate
debit and credit columns), optionally a bank's own id of the line, the date format, and which sign means
money out. Presets for common exports; `generic` takes the mapping from the request. Amounts come out in
Plaid's sign (positive = money out), rounded to cents. A header is found as the first line that holds every
mapped column (exports that open with a summary block, like Bank of America's, work as they are);
`header: false` layouts name columns by position ("0", "1", ...).
"""

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e15")


class LayoutError(ValueError):
    """The file (or the mapping) cannot be read with this layout at all: no line is worth reporting."""


@dataclass(frozen=True)
class Layout:
    name: str
    date: str
    description: str
    amount: str | None = None
    debit: str | None = None  # money out, as a positive number
    credit: str | None = None  # money in, as a positive number
    id: str | None = None
    date_format: str = "%m/%d/%Y"
    negative_is_out: bool = True  # the amount column's sign (most banks: a purchase is negative)
    header: bool = True
    delimiter: str = ","
    decimal_comma: bool = False
    extra: tuple[str, ...] = field(default=())  # columns read into the description (a memo)

    def columns(self) -> list[str]:
        named = [self.date, self.description, self.amount, self.debit, self.credit, self.id, *self.extra]
        return [c for c in named if c is not None]


PRESETS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        # Transaction Date,Post Date,Description,Category,Type,Amount,Memo
        Layout("chase_card", date="Transaction Date", description="Description", amount="Amount"),
        # Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #
        Layout("chase_checking", date="Posting Date", description="Description", amount="Amount"),
        # a summary block, a blank line, then: Date,Description,Amount,Running Bal.
        Layout("bofa_checking", date="Date", description="Description", amount="Amount"),
        # Date,Description,Amount (charges positive) [,Extended Details,...,Reference]
        Layout("amex", date="Date", description="Description", amount="Amount", negative_is_out=False),
        # Transaction Date,Posted Date,Card No.,Description,Category,Debit,Credit
        Layout(
            "capital_one",
            date="Transaction Date",
            description="Description",
            debit="Debit",
            credit="Credit",
            date_format="%Y-%m-%d",
        ),
        # no header: "date","amount","*","","description"
        Layout("wells_fargo", date="0", description="4", amount="1", header=False),
    )
}
GENERIC = "generic"


_PROBE = date(2031, 12, 23)  # day, month and two-digit year all distinct


def generic(mapping: Mapping[str, Any]) -> Layout:
    """The generic layout from a request's mapping (docs/ledger-api.md, "CSV import")."""
    try:
        layout = Layout(
            GENERIC,
            date=mapping["date"],
            description=mapping["description"],
            amount=mapping.get("amount"),
            debit=mapping.get("debit"),
            credit=mapping.get("credit"),
            id=mapping.get("id"),
            date_format=mapping.get("date_format") or "%Y-%m-%d",
            negative_is_out=mapping.get("sign", "negative_is_out") == "negative_is_out",
            header=mapping.get("header", True),
            delimiter=mapping.get("delimiter") or ",",
            decimal_comma=mapping.get("decimal") == ",",
            extra=tuple(mapping.get("memo") or ()),
        )
    except KeyError as exc:
        raise LayoutError(f"the mapping needs a `{exc.args[0]}` column") from None
    if (layout.amount is None) == (layout.debit is None and layout.credit is None):
        raise LayoutError("the mapping needs either `amount`, or `debit` and/or `credit` (not both)")
    try:  # the day, the month and the year must all be read back (%H:%M, or %m/%d, would not)
        read_back = datetime.strptime(_PROBE.strftime(layout.date_format), layout.date_format).date()
    except (ValueError, re.error):  # re.error: a directive twice (%d/%d/%Y) makes strptime's own regex fail
        read_back = None
    if read_back != _PROBE:
        raise LayoutError(f"date_format {layout.date_format!r} does not read back a date") from None
    if not layout.header and not all(c.isascii() and c.isdigit() for c in layout.columns()):
        raise LayoutError("without a header line, the mapping names columns by their position: 0, 1, 2 ...")
    return layout


def layout_named(name: str, mapping: Mapping[str, Any] | None) -> Layout:
    if name == GENERIC:
        if not mapping:
            raise LayoutError("the generic layout needs a `mapping` of its columns")
        return generic(mapping)
    if mapping:
        raise LayoutError(f"layout {name} has a fixed mapping: use `generic` to give your own")
    return PRESETS[name]


class Row(NamedTuple):
    line: int  # the physical line in the file (1 = the first)
    day: date
    amount: Decimal  # Plaid's sign
    description: str
    imported_id: str | None


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str
    text: str


@dataclass
class Reader:
    """Reads a file with a layout: `lines()` yields a Row or a BadLine per data line, in file order.
    `start()` finds the header (LayoutError when there is none) and counts the data lines."""

    layout: Layout
    body: str
    index: dict[str, int] = field(default_factory=dict)
    first_data: int = 0  # index into the csv records of the first data line
    records: list[tuple[int, list[str]]] = field(default_factory=list)

    def start(self) -> int:
        # lines end at \n, \r\n or \r only (str.splitlines would also split a field at U+2028, NEL, ...),
        # and a byte-order mark is not part of the first column's name
        text = io.StringIO(self.body.removeprefix("\ufeff"), newline="")
        reader = csv.reader(text, delimiter=self.layout.delimiter, strict=False)
        try:
            self.records = [(reader.line_num, rec) for rec in reader]
        except csv.Error as exc:  # pragma: no cover - strict=False accepts nearly anything
            raise LayoutError(f"the file is not CSV: {exc}") from None
        wanted = self.layout.columns()
        if not self.layout.header:
            self.index = {c: int(c) for c in wanted}
            self.first_data = 0
        else:
            for i, (_, rec) in enumerate(self.records):
                names = {name.strip(): k for k, name in enumerate(rec)}
                if all(c in names for c in wanted):
                    self.index = {c: names[c] for c in wanted}
                    self.first_data = i + 1
                    break
            else:
                raise LayoutError(f"no header line holds the columns {wanted} of layout {self.layout.name}")
        return self.total()

    def total(self) -> int:
        return sum(1 for _, rec in self.records[self.first_data :] if any(v.strip() for v in rec))

    def lines(self, skip: int = 0) -> Iterator[Row | BadLine]:
        """Data lines after the first `skip` (blank lines are not data lines)."""
        seen = 0
        for line, rec in self.records[self.first_data :]:
            if not any(v.strip() for v in rec):
                continue
            seen += 1
            if seen <= skip:
                continue
            yield self.read(line, rec)

    def read(self, line: int, rec: list[str]) -> Row | BadLine:
        lay, at = self.layout, self.index
        try:
            values = {c: rec[k].strip() for c, k in at.items()}
        except IndexError:
            return BadLine(
                line, f"{len(rec)} columns where the layout needs {max(at.values()) + 1}", _text(rec)
            )
        day = _date(values[lay.date], lay.date_format)
        if day is None:
            return BadLine(line, f"date {values[lay.date][:40]!r} is not {lay.date_format}", _text(rec))
        try:
            amount = self._amount(values)
        except ValueError as exc:
            return BadLine(line, str(exc), _text(rec))
        description = " ".join([values[lay.description], *(values[c] for c in lay.extra if values[c])])
        if not description:
            return BadLine(line, "the description is empty", _text(rec))
        imported_id = values[lay.id] or None if lay.id else None
        return Row(line, day, amount, description[:500], imported_id[:200] if imported_id else None)

    def _amount(self, values: dict[str, str]) -> Decimal:
        lay = self.layout
        if lay.amount is not None:
            value = _money(values[lay.amount], lay.decimal_comma, "amount")
            if value is None:
                raise ValueError("the amount is empty")
            return -value if lay.negative_is_out else value
        debit = _money(values[lay.debit], lay.decimal_comma, "debit") if lay.debit else None
        credit = _money(values[lay.credit], lay.decimal_comma, "credit") if lay.credit else None
        if debit is None and credit is None:
            raise ValueError("both debit and credit are empty")
        return abs(debit or Decimal(0)) - abs(credit or Decimal(0))


def _money(text: str, decimal_comma: bool, what: str) -> Decimal | None:
    raw = text
    text = text.replace("$", "").replace("€", "").replace("£", "").replace(" ", "").replace("\u00a0", "")
    if not text:
        return None
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    text = text.replace(".", "").replace(",", ".") if decimal_comma else text.replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} {raw[:40]!r} is not a number") from None
    if not value.is_finite() or abs(value) >= MAX_AMOUNT:
        raise ValueError(f"{what} {raw[:40]!r} is out of range")
    value = value.quantize(CENT)
    return -value if negative else value


def _date(text: str, fmt: str) -> date | None:
    try:
        if fmt == "%Y-%m-%d":
            return date.fromisoformat(text) if len(text) == 10 else None
        if fmt == "%m/%d/%Y":
            m, d, y = text.split("/")
            return date(int(y), int(m), int(d)) if len(y) == 4 else None
        return datetime.strptime(text, fmt).date()
    except ValueError:
        return None


def _text(rec: list[str]) -> str:
    return ",".join(rec)[:200]
