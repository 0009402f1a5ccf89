"""One run per Item: a run whose lease cannot be renewed stops before it commits anything, and one
process never runs an Item twice. The worker is the real one (bootstrap(), the real PostgreSQL, Kafka and
the emulator); the renewals are made to fail in the real database by a trigger on `sync_items`."""

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
from plaid_emulator.testing import RunningEmulator, running_emulator

from .harness import EmulatorTokens, running_worker, settings_for
from .stream import DistinctEvents, apply, decode

pytestmark = pytest.mark.integration

LEASE_SECONDS = 1.5

# A renewal changes `lease_until` alone (a claim, a commit or a release also change other columns):
# while this trigger exists, every renewal fails with a database error, as when the database is unreachable
# for the renewer.
REFUSE_RENEWALS = """
CREATE FUNCTION refuse_renewals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.lease_until > OLD.lease_until AND NEW.updated_at = OLD.updated_at
       AND NEW.wanted_triggers = OLD.wanted_triggers THEN
        RAISE EXCEPTION 'renewals are refused by the test';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_renewals BEFORE UPDATE ON sync_items
    FOR EACH ROW EXECUTE FUNCTION refuse_renewals();
"""


class GatedTokens(EmulatorTokens):
    """Tokens from the emulator, handed out only once `gate` opens; counts the runs waiting for one."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.called_again = asyncio.Event()
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def access_token(self, item_id: str) -> str:
        self.calls += 1
        if self.calls >= 2:
            self.called_again.set()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        return await super().access_token(item_id)


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(not_ready_delay=0, historical_delay=0) as emu:
        yield emu


async def test_a_run_whose_lease_cannot_be_renewed_stops_and_the_item_never_runs_twice_at_once(
    database_url: str, kafka_bootstrap_servers: str, emulator: RunningEmulator, uid: str, reader
) -> None:
    settings = settings_for(
        database_url=database_url,
        kafka=kafka_bootstrap_servers,
        emulator_url=emulator.url,
        client_id=emulator.client_id,
        secret=emulator.secret,
        uid=uid,
        lease_seconds=LEASE_SECONDS,
        poll_interval_seconds=0.1,
    )
    tokens = GatedTokens()
    async with running_worker(settings, tokens=tokens) as worker:
        await worker.pool.execute(REFUSE_RENEWALS)
        item = emulator.create_item(transactions=700, ready=True)
        item_id = item["item_id"]
        await worker.link(item_id, item["access_token"])
        # the run waits for its token while none of its renewals succeeds: its lease runs out, and the
        # Item is due again; let two lease lengths and a half pass
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tokens.called_again.wait(), 10 * LEASE_SECONDS)
        await asyncio.sleep(LEASE_SECONDS)
        assert tokens.calls >= 2, "the Item was never claimed again after its lease ran out"
        assert tokens.most_in_flight == 1, "one process ran the same Item twice at once"
        assert worker.container.metrics.leases_lost._value.get() >= 1

        await worker.pool.execute("DROP TRIGGER refuse_renewals ON sync_items")
        tokens.gate.set()
        await worker.wait_runs(item_id, 1)
        await asyncio.sleep(3 * settings.poll_interval_seconds)  # a second run would start now
        assert [r["outcome"] for r in await worker.runs(item_id)] == ["completed"]
        assert tokens.most_in_flight == 1
        assert (await worker.item(item_id))["last_sequence"] == 700
        records = await reader(worker.topic("bankstream.transactions"), until=DistinctEvents(700))
        assert len(records) == 700, "every change published exactly once"
        _, sequences = apply(decode(records), item_id)
        assert sequences == list(range(1, 701))
