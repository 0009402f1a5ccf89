"""The short form of `make chaos`, in `make test`: a few thousand transactions, every service SIGKILLed
once at a random moment, a Kafka broker restart and a PostgreSQL restart mid-stream, emulator faults; after
quiescence the ledger equals the truth, the dead-letter topics hold only the injected poison, no outbox row
is left. It runs on a broker and a database of its own (it restarts them), never on the shared ones."""

import pytest
from bankstream_devstack.chaos import ChaosPlan, run_chaos

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.mark.timeout(900)
def test_short_chaos_loses_and_duplicates_nothing() -> None:
    report = run_chaos(
        ChaosPlan(seed=11, transactions=3_000, items=2, rounds=4, max_seconds=240, converge_timeout=300)
    )
    print(report.table())
    assert report.rounds == 4
    assert all(report.kills[s] == 1 for s in ("link-svc", "sync-worker", "categorizer", "ledger-api")), (
        report.kills
    )
    assert (report.kafka_restarts, report.pg_restarts) == (1, 1)
    assert (report.lost, report.duplicated, report.mismatched) == (0, 0, 0), report.examples
    assert report.converge_seconds is not None
    assert report.poison_dead_letters >= report.poison_injected == 2, "the injected poison is not in the DLQs"
    assert not report.unexpected_dead_letters, report.unexpected_dead_letters
    assert not any(report.outbox_left.values()), report.outbox_left
