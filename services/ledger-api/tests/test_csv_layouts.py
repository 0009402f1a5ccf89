"""Reading bank exports (pure): each preset on a sample of its layout, amounts in Plaid's sign, the header
found after a summary block, bad lines with their reason; the ids that make a re-import a no-op; the
matcher's similarity and one-to-one assignment."""

from datetime import date
from decimal import Decimal

import orjson
import pytest
from ledger_api.domain import imported, matching
from ledger_api.domain.csv_layouts import BadLine, LayoutError, Reader, Row, layout_named

SAMPLES = {
    "chase_card": (
        "Transaction Date,Post Date,Description,Category,Type,Amount,Memo\n"
        "11/02/2026,11/03/2026,SQ *BLUE BOTTLE,Food & Drink,Sale,-4.50,\n"
        "11/05/2026,11/05/2026,Payment Thank You,,Payment,250.00,\n"
    ),
    "chase_checking": (
        "Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #\n"
        "DEBIT,11/02/2026,SQ *BLUE BOTTLE,-4.50,DEBIT_CARD,995.50,\n"
        "CREDIT,11/05/2026,Payment Thank You,250.00,ACH_CREDIT,1245.50,\n"
    ),
    "bofa_checking": (
        'Description,,Summary Amt.\nBeginning balance as of 11/01/2026,,"1,000.00"\n\n'
        "Date,Description,Amount,Running Bal.\n"
        '11/02/2026,SQ *BLUE BOTTLE,-4.50,"995.50"\n'
        '11/05/2026,Payment Thank You,"250.00","1,245.50"\n'
    ),
    "amex": (
        "Date,Description,Amount\n11/02/2026,SQ *BLUE BOTTLE,4.50\n11/05/2026,Payment Thank You,-250.00\n"
    ),
    "capital_one": (
        "Transaction Date,Posted Date,Card No.,Description,Category,Debit,Credit\n"
        "2026-11-02,2026-11-03,1234,SQ *BLUE BOTTLE,Dining,4.50,\n"
        "2026-11-05,2026-11-05,1234,Payment Thank You,Payment,,250.00\n"
    ),
    "wells_fargo": (
        '"11/02/2026","-4.50","*","","SQ *BLUE BOTTLE"\n"11/05/2026","250.00","*","","Payment Thank You"\n'
    ),
}


@pytest.mark.parametrize("layout", sorted(SAMPLES))
def test_every_preset_reads_its_sample_in_plaids_sign(layout: str) -> None:
    reader = Reader(layout_named(layout, None), SAMPLES[layout])
    assert reader.start() == 2
    rows = list(reader.lines())
    assert all(isinstance(r, Row) for r in rows), rows
    assert [(r.day, r.amount, r.description) for r in rows if isinstance(r, Row)] == [
        (date(2026, 11, 2), Decimal("4.50"), "SQ *BLUE BOTTLE"),  # money out: positive
        (date(2026, 11, 5), Decimal("-250.00"), "Payment Thank You"),  # money in: negative
    ]


def test_generic_mapping_with_debit_credit_memo_and_european_numbers() -> None:
    mapping = {
        "date": "Datum",
        "description": "Text",
        "debit": "Soll",
        "credit": "Haben",
        "memo": ["Notiz"],
        "date_format": "%d.%m.%Y",
        "delimiter": ";",
        "decimal": ",",
    }
    body = (
        "Datum;Text;Soll;Haben;Notiz\n02.11.2026;Miete;1.250,00;;November\n03.11.2026;Gehalt;;(3.200,00);\n"
    )
    reader = Reader(layout_named("generic", mapping), body)
    reader.start()
    rows = [r for r in reader.lines() if isinstance(r, Row)]
    assert [(r.day, r.amount, r.description) for r in rows] == [
        (date(2026, 11, 2), Decimal("1250.00"), "Miete November"),
        (date(2026, 11, 3), Decimal("-3200.00"), "Gehalt"),
    ]


def test_bad_lines_carry_their_line_number_and_reason() -> None:
    body = (
        "Date,Description,Amount\n11/31/2026,X,-1.00\n11/02/2026,,-1.00\n11/02/2026,Y,1e999\n11/02/2026,Z\n"
    )
    reader = Reader(layout_named("amex", None), body)
    reader.start()
    got = list(reader.lines())
    assert all(isinstance(g, BadLine) for g in got)
    assert [(g.line, g.reason.split()[0]) for g in got if isinstance(g, BadLine)] == [
        (2, "date"),
        (3, "the"),
        (4, "amount"),
        (5, "2"),
    ]


def test_a_byte_order_mark_and_unicode_line_separators_inside_fields_are_just_text() -> None:
    """Only \\n, \\r\\n and \\r end a line: a U+2028 or a NEL in a description was read as two broken
    lines (and every later line misnumbered), and a byte-order mark hid the first header column."""
    mapping = {"date": "Date", "description": "Desc", "amount": "Amount"}
    body = (
        "\ufeffDate,Desc,Amount\r\n"
        "2026-11-08,Caf\u00e9\u2028Paris,-3.00\r\n2026-11-09,NEL\x85here,-2.00\r\nbad\r\n"
    )
    reader = Reader(layout_named("generic", mapping), body)
    assert reader.start() == 3
    got = list(reader.lines())
    rows = [r for r in got if isinstance(r, Row)]
    assert [(r.line, r.day, r.description) for r in rows] == [
        (2, date(2026, 11, 8), "Caf\u00e9\u2028Paris"),
        (3, date(2026, 11, 9), "NEL\x85here"),
    ]
    assert [(b.line, b.reason) for b in got if isinstance(b, BadLine)] == [
        (4, "1 columns where the layout needs 3")
    ]
    wells = Reader(layout_named("wells_fargo", None), "\ufeff11/05/2026,-1.00,*,,COFFEE\n")
    wells.start()
    assert [type(r) for r in wells.lines()] == [Row]


@pytest.mark.parametrize("date_format", ["%H:%M", "%m/%d", "%Y", "%d.%m.%d"])
def test_a_date_format_that_does_not_read_back_the_whole_date_is_refused(date_format: str) -> None:
    mapping = {"date": "Date", "description": "Desc", "amount": "Amount", "date_format": date_format}
    with pytest.raises(LayoutError, match="does not read back a date"):
        layout_named("generic", mapping)


def test_what_cannot_be_read_at_all_is_refused() -> None:
    with pytest.raises(LayoutError):
        Reader(layout_named("chase_card", None), "a,b\n1,2\n").start()
    with pytest.raises(LayoutError):
        layout_named("generic", None)
    with pytest.raises(LayoutError):
        layout_named("generic", {"date": "d", "description": "t"})  # no amount column
    with pytest.raises(LayoutError):
        layout_named("chase_card", {"date": "d", "description": "t", "amount": "a"})
    # a directive twice made strptime raise re.error, and a named column without a header int() fail: 500s
    with pytest.raises(LayoutError):
        layout_named("generic", {"date": "d", "description": "t", "amount": "a", "date_format": "%d/%d/%Y"})
    with pytest.raises(LayoutError):
        layout_named("generic", {"date": "Booked", "description": "2", "amount": "1", "header": False})
    assert layout_named("generic", {"date": "0", "description": "2", "amount": "1", "header": False})


def test_ids_are_the_same_for_the_same_file_and_tell_identical_lines_apart() -> None:
    coffee = Row(2, date(2026, 11, 2), Decimal("4.50"), "SQ *BLUE BOTTLE 8372", None)
    twin = Row(3, date(2026, 11, 2), Decimal("4.50"), "SQ *BLUE BOTTLE 8372", None)
    banked = Row(4, date(2026, 11, 3), Decimal("9.00"), "X", "REF-1")
    first = imported.transaction_ids("acc", [coffee, twin, banked])
    assert first == imported.transaction_ids("acc", [coffee, twin, banked])
    assert len(set(first)) == 3 and all(i.startswith("csv_") for i in first)
    assert imported.transaction_ids("other", [coffee]) != first[:1]
    reworded = Row(4, date(2026, 12, 1), Decimal("1"), "renamed", "REF-1")  # the bank's id decides alone
    assert imported.transaction_ids("acc", [reworded]) == first[2:]


def test_similarity_sees_through_descriptor_noise() -> None:
    assert matching.similarity("SQ *BLUE BOTTLE 8372", "Blue Bottle Coffee") > 0.6
    assert matching.similarity("SQ *BLUE BOTTLE 8372", "Starbucks") < 0.2
    assert matching.similarity("NETFLIX.COM", "Netflix") > 0.75
    assert matching.similarity("Netflix", "NETFLIX") == 1.0


def test_assignment_maximizes_the_total_and_takes_each_side_once() -> None:
    rules = matching.Rules(Decimal(0), 2, 0.0)

    def side(day: int) -> matching.Side:
        return matching.Side(Decimal("40"), date(2026, 11, day), ("Hardware store",))

    lefts, rights = [side(10), side(8)], [side(10), side(11)]
    pairs = [
        p
        for i, a in enumerate(lefts)
        for j, b in enumerate(rights)
        if (p := matching.score(rules, i, a, j, b)) is not None
    ]
    kept = matching.assign(pairs)
    assert [(p.left, p.right) for p in kept] == [(0, 1), (1, 0)]  # greedy would give (0, 0) and leave 1


def test_a_file_read_batch_by_batch_gets_the_ids_of_the_whole_file_read_at_once() -> None:
    """The import reads its lines batch by batch (handlers.imports.Work.take): identical lines on both
    sides of a batch boundary, a bad line and a blank one, and a resume from the middle all give the ids
    that reading the whole file at once gives."""
    from ledger_api.handlers.imports import Work

    lines = ["2026-11-02,SQ *BLUE BOTTLE 8372,-4.50"] * 5 + ["not a date,X,1", "", "2026-11-03,RENT,-900"]
    body = "Date,Text,Amount\n" + "\n".join(lines * 3) + "\n"
    mapping = {"date": "Date", "description": "Text", "amount": "Amount"}
    options = {"mapping": mapping, "amount_tolerance": "0", "date_window_days": 3, "min_similarity": 0.5}
    job = {"account_id": "acc", "layout": "generic", "options": orjson.dumps(options)}
    reader = Reader(layout_named("generic", mapping), body)
    reader.start()
    whole = list(reader.lines())
    rows = [x for x in whole if isinstance(x, Row)]
    expected = dict(zip((r.line for r in rows), imported.transaction_ids("acc", rows), strict=True))
    assert len(set(expected.values())) == len(rows) == 18

    def read(start: int, size: int) -> dict[int, str]:
        work = Work(job, body)  # type: ignore[arg-type]
        got: dict[int, str] = {}
        while start < work.total:
            part, ids = work.take(start, size)
            assert part == whole[start : start + size]
            got |= dict(zip((x.line for x in part if isinstance(x, Row)), ids, strict=True))
            start += len(part)
        return got

    assert read(0, 4) == expected
    assert read(0, 1000) == expected
    resumed = read(7, 3)  # a restart after the first 7 data lines: the ranks count them all the same
    assert resumed == {line: i for line, i in expected.items() if line in resumed}
    assert len(resumed) == len([x for x in whole[7:] if isinstance(x, Row)])
