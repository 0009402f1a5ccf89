"""POST /v1/imports and GET /v1/imports/{id} against the real database and broker: a CSV overlapping what
Plaid delivered (with decoys), imported twice; bad lines reported while the good ones go through; the
events on bankstream.imported-transactions held to the TransactionChanged contract; refusals.

The ledger's Plaid rows are seeded as the projections would have written them; the trip through the
categorizer back into the ledger is tests/test_csv_import_through_categorizer.py's."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from bankstream_common.envelope import Envelope
from ledger_api.domain import imported

from .api_harness import (
    LedgerApi,
    add_transactions,
    bearer,
    read_events,
    running_ledger_api,
    seed_alice_and_bob,
    tx,
    wait_until,
)

pytestmark = pytest.mark.integration

SCHEMA = json.loads(
    (Path(__file__).parents[3] / "docs/events/bankstream.transaction.changed.v1.schema.json").read_text()
)

# Chase's card export: purchases negative. Lines 2-4 are what Plaid already delivered (other wording,
# a day off); 5 and 6 are new; 7 is a second identical coffee on the day Plaid has one of.
CHASE = """Transaction Date,Post Date,Description,Category,Type,Amount,Memo
11/02/2026,11/03/2026,SQ *BLUE BOTTLE 8372,Food & Drink,Sale,-4.50,
11/03/2026,11/04/2026,AMAZON MKTPLACE PMTS,Shopping,Sale,-23.99,
11/05/2026,11/05/2026,PAYROLL ACME CORP,,Payment,3200.00,
11/06/2026,11/07/2026,CITY PARKING 22,Travel,Sale,-7.00,
11/08/2026,11/09/2026,TST* JOE'S PIZZA,Food & Drink,Sale,-18.25,
11/02/2026,11/03/2026,SQ *BLUE BOTTLE 8372,Food & Drink,Sale,-4.50,
"""

PLAID = [
    tx("p-coffee", amount=4.5, date=None, name="Blue Bottle Coffee", merchant_name="Blue Bottle Coffee"),
    tx("p-amazon", amount=23.99, date=None, name="Amazon", merchant_name="Amazon"),
    tx("p-payroll", amount=-3200.0, date=None, name="ACME CORP PAYROLL", merchant_name=None),
    # decoys: the same amount as a new line, but 10 days away (out of the 7-day window) or another account
    tx("p-decoy-far", amount=7.0, date=None, name="CITY PARKING", merchant_name=None),
    tx("p-decoy-acct", account_id="acc-a2", amount=18.25, date=None, name="JOE'S PIZZA", merchant_name=None),
]


def at(day: int) -> Any:
    from datetime import date

    return date(2026, 11, day)


@pytest.fixture
async def api(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[LedgerApi]:
    async with running_ledger_api(
        database_url, kafka_bootstrap_servers, import_batch_rows=2, import_poll_seconds=0.2
    ) as running:
        await seed_alice_and_bob(running.pool)
        dates = {"p-coffee": 2, "p-amazon": 4, "p-payroll": 5, "p-decoy-far": 16, "p-decoy-acct": 8}
        await add_transactions(running.pool, [{**t, "date": at(dates[t["transaction_id"]])} for t in PLAID])
        yield running


async def start(api: LedgerApi, body: dict[str, Any], user: str = "alice") -> Any:
    return await api.http.post("/v1/imports", json=body, headers=bearer(user))


async def finished(api: LedgerApi, import_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        body = (await api.get(f"/v1/imports/{import_id}")).json()
        return body if body["state"] == "succeeded" else None

    return await wait_until(done, timeout=30)


async def test_an_overlapping_file_imported_twice_adds_only_what_plaid_lacked(
    api: LedgerApi, kafka_bootstrap_servers: str
) -> None:
    first = await start(api, {"account_id": "acc-a1", "layout": "chase_card", "csv": CHASE})
    assert first.status_code == 202, first.text
    assert first.json()["progress"]["total"] == 6
    report = await finished(api, first.json()["import_id"])
    assert report["progress"] == {"total": 6, "processed": 6, "fraction": 1.0}
    assert report["report"]["imported"] == 3
    assert report["report"]["duplicates"] == 3
    assert report["report"]["bad_lines"] == 0
    dups = {f["line"]: f for f in report["report"]["findings"]}
    assert {line: f["transaction_id"] for line, f in dups.items()} == {
        2: "p-coffee",
        3: "p-amazon",
        4: "p-payroll",
    }
    assert dups[3]["how"] == "fuzzy" and dups[3]["days_apart"] == 1

    # the new lines left as TransactionChanged (added), in file order, held to the sync-worker's contract
    events = await read_events(kafka_bootstrap_servers, api.topic(imported.TOPIC_IMPORTED), at_least=3)
    assert len(events) == 3
    for event in events:
        assert event.type == "bankstream.transaction.changed.v1"
        assert event.source == "bankstream/ledger-api"
        jsonschema.validate(event.data, SCHEMA)
        assert Envelope.from_json(event.to_json()) == event
    data = [e.data for e in events]
    assert [(d["date"], d["amount"], d["name"]) for d in data] == [
        ("2026-11-06", 7.0, "CITY PARKING 22"),
        ("2026-11-08", 18.25, "TST* JOE'S PIZZA"),
        ("2026-11-02", 4.5, "SQ *BLUE BOTTLE 8372"),  # the second coffee: Plaid has only one
    ]
    assert {d["account_id"] for d in data} == {"acc-a1"}
    assert {d["item_id"] for d in data} == {"item-a"}
    assert {d["run_id"] for d in data} == {first.json()["import_id"]}
    assert [d["sync_sequence"] for d in data] == [5, 6, 7]

    # the same file again: every line is a duplicate, of Plaid's rows or of the first import's
    second = await start(api, {"account_id": "acc-a1", "layout": "chase_card", "csv": CHASE})
    again = await finished(api, second.json()["import_id"])
    assert again["report"]["imported"] == 0
    assert again["report"]["duplicates"] == 6
    by_line = {f["line"]: f for f in again["report"]["findings"]}
    assert {by_line[n]["transaction_id"] for n in (5, 6, 7)} == {d["transaction_id"] for d in data}
    assert {by_line[n]["how"] for n in (5, 6, 7)} == {"same_id"}
    rows = await api.pool.fetchval("SELECT count(*) FROM import_rows")
    assert rows == 3
    await wait_until(lambda: api.pool.fetchval("SELECT count(*) = 0 FROM outbox"), timeout=30)
    more = await read_events(kafka_bootstrap_servers, api.topic(imported.TOPIC_IMPORTED), at_least=3)
    assert len(more) == 3  # nothing new was published


async def test_a_malformed_file_reports_its_bad_lines_and_keeps_the_good_ones(api: LedgerApi) -> None:
    csv = "\n".join(
        [
            "Booked;Text;Value;Ref",
            "2026-11-20;GROCER ONE;-12,50;R1",  # good (decimal comma)
            "2026-11-31;BAD DATE;-1,00;R2",  # no such day
            "2026-11-21;BAD AMOUNT;twelve;R3",
            "2026-11-22;SHORT LINE",  # too few columns
            "",  # blank: not a data line
            "2026-11-23;;-3,00;R5",  # no description
            '2026-11-24;"QUOTED; WITH DELIMITER";1.234,56;R6',  # good: money in, thousands separator
        ]
    )
    mapping = {
        "date": "Booked",
        "description": "Text",
        "amount": "Value",
        "id": "Ref",
        "delimiter": ";",
        "decimal": ",",
    }
    answer = await start(api, {"account_id": "acc-a1", "layout": "generic", "mapping": mapping, "csv": csv})
    assert answer.status_code == 202, answer.text
    report = await finished(api, answer.json()["import_id"])
    assert report["report"]["imported"] == 2
    assert report["report"]["bad_lines"] == 4
    bad = {f["line"]: f["reason"] for f in report["report"]["findings"] if f["kind"] == "bad"}
    assert sorted(bad) == [3, 4, 5, 7]
    assert "date" in bad[3] and "number" in bad[4] and "columns" in bad[5] and "description" in bad[7]
    rows = await api.pool.fetch(
        "SELECT line, imported_id, amount, description FROM import_rows ORDER BY line"
    )
    assert [(r["line"], r["imported_id"], float(r["amount"])) for r in rows] == [
        (2, "R1", 12.5),
        (8, "R6", -1234.56),
    ]

    # the bank's ids: the same lines again, reworded, are duplicates by id; a line with a new id is new
    reworded = csv.replace("GROCER ONE", "Grocer 1 renamed").replace("R6", "R9")
    again = await finished(
        api,
        (
            await start(
                api, {"account_id": "acc-a1", "layout": "generic", "mapping": mapping, "csv": reworded}
            )
        ).json()["import_id"],
    )
    hows = {f["line"]: f.get("how") for f in again["report"]["findings"] if f["kind"] == "duplicate"}
    # line 2 by its bank id (reworded); line 8, a new id, by amount, date and description (as Actual does)
    assert hows == {2: "imported_id", 8: "fuzzy"}
    assert again["report"]["imported"] == 0


async def test_refusals(api: LedgerApi) -> None:
    body = {"account_id": "acc-a1", "layout": "chase_card", "csv": CHASE}
    assert (await start(api, {**body, "account_id": "acc-b1"})).status_code == 404  # bob's account
    no_header = await start(api, {**body, "csv": "a,b,c\n1,2,3\n"})
    assert no_header.status_code == 422
    assert no_header.json()["error"]["code"] == "invalid_parameter"
    generic_without_mapping = await start(api, {**body, "layout": "generic"})
    assert generic_without_mapping.status_code == 422
    both = {"date": "d", "description": "t", "amount": "a", "debit": "x"}
    assert (await start(api, {**body, "layout": "generic", "mapping": both})).status_code == 422
    bad_format = {"date": "d", "description": "t", "amount": "a", "date_format": "%Q"}
    assert (
        await start(api, {**body, "layout": "generic", "mapping": bad_format, "csv": "d,t,a\n"})
    ).status_code == 422
    assert (await start(api, {**body, "layout": "quicken"})).status_code == 422
    assert (await start(api, {**body, "csv": "x\u0000y"})).status_code == 422
    read_only = await api.http.post("/v1/imports", json=body, headers=bearer("alice", ("ledger:read",)))
    assert read_only.status_code == 403
    started = await start(api, body)
    assert (await api.get(f"/v1/imports/{started.json()['import_id']}", user="bob")).status_code == 404
    assert (await api.get("/v1/imports/nope")).status_code == 404


async def test_a_file_without_data_lines_ends_succeeded(api: LedgerApi) -> None:
    """A header alone (or blank lines after it) is an import of nothing: it ends, it does not stay
    `running` (every pass of the runner would take it again, and a hundred of them would hold back every
    later import)."""
    mapping = {"date": "Date", "description": "Text", "amount": "Amount"}
    for csv in ("Date,Text,Amount\n", "Date,Text,Amount\n\n,,\n"):
        job = await start(api, {"account_id": "acc-a1", "layout": "generic", "mapping": mapping, "csv": csv})
        assert job.status_code == 202, job.text
        report = await finished(api, job.json()["import_id"])
        assert report["progress"] == {"total": 0, "processed": 0, "fraction": 1.0}
        assert report["report"]["imported"] == report["report"]["duplicates"] == 0


async def test_a_bank_id_given_twice_in_a_file_makes_one_row_whichever_batches_its_lines_fall_in(
    api: LedgerApi, kafka_bootstrap_servers: str
) -> None:
    """Batches of 2 lines (the fixture): a bank id repeated in the same batch (line 3) and in a later one
    (line 4, with other details, which a fuzzy match could give Plaid's gym row) makes one row and one
    event, the repeats reported `same_id`, whether the first line's batch had committed or not when the
    later one was prepared; Plaid's gym row stays for the line that is its duplicate (line 6)."""
    await add_transactions(api.pool, [tx("p-gym", amount=45.0, date=at(14), name="GYM MEMBERSHIP")])
    csv = "\n".join(
        [
            "Date,Text,Amount,Ref",
            "2026-11-10,GYM,-30.00,R1",
            "2026-11-10,GYM,-30.00,R1",
            "2026-11-14,GYM MEMBERSHIP,-45.00,R1",
            "2026-11-12,BOOKS,-12.00,R2",
            "2026-11-14,GYM MEMBERSHIP,-45.00,",
        ]
    )
    mapping = {"date": "Date", "description": "Text", "amount": "Amount", "id": "Ref"}
    job = await start(api, {"account_id": "acc-a1", "layout": "generic", "mapping": mapping, "csv": csv})
    assert job.status_code == 202, job.text
    report = await finished(api, job.json()["import_id"])
    assert report["report"]["imported"] == 2
    findings = {f["line"]: f for f in report["report"]["findings"]}
    assert {line: f["how"] for line, f in findings.items()} == {3: "same_id", 4: "same_id", 6: "fuzzy"}
    assert findings[6]["transaction_id"] == "p-gym"
    assert findings[3]["transaction_id"] == findings[4]["transaction_id"]
    events = await read_events(kafka_bootstrap_servers, api.topic(imported.TOPIC_IMPORTED), at_least=2)
    assert sorted(e.data["name"] for e in events) == ["BOOKS", "GYM"]
    assert len({e.data["transaction_id"] for e in events}) == 2
