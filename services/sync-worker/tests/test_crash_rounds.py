"""The worker SIGKILLed at random moments during a 50,000-transaction backfill (while it pages, and while the
relay has events to publish), restarted, several rounds:
the published stream, deduplicated by event id and applied in order, equals the emulator's ground truth
exactly, and each change was committed once (one completed run, sequences 1..N)."""

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from bankstream_common.testing.issuer import TEST_ISSUER
from plaid_emulator.testing import running_emulator

from .stream import DistinctEvents, apply, decode, differences, per_account_in_order

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
PROCS = Path(__file__).parent / "procs"
TRANSACTIONS = 50_000


def worker_env(
    database_url: str, kafka: str, emulator_url: str, client_id: str, secret: str, uid: str
) -> dict[str, str]:
    return {
        **os.environ,
        "SYNC_WORKER_ENV": "test",
        "SYNC_WORKER_DATABASE_URL": database_url,
        "SYNC_WORKER_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "SYNC_WORKER_PLAID_BASE_URL": emulator_url,
        "SYNC_WORKER_PLAID_CLIENT_ID": client_id,
        "SYNC_WORKER_PLAID_SECRET": secret,
        "SYNC_WORKER_LINK_SVC_TOKEN": "test-service-token-7d1e",
        **TEST_ISSUER.env("SYNC_WORKER_"),
        "SYNC_WORKER_SCHEMA_NAME": f"sw_{uid}",
        "SYNC_WORKER_TOPIC_PREFIX": f"t{uid}.",
        "SYNC_WORKER_CONSUMER_GROUP": f"sync-worker-{uid}",
        "SYNC_WORKER_TOPIC_PARTITIONS": "3",
        "SYNC_WORKER_LEASE_SECONDS": "2",
        "SYNC_WORKER_POLL_INTERVAL_SECONDS": "0.1",
        "SYNC_WORKER_PLAID_SYNC_CALLS_PER_WINDOW": "0",  # the emulator runs without rate limits here
        "SYNC_WORKER_PLAID_CLIENT_SYNC_CALLS_PER_WINDOW": "0",
    }


async def phase(pool: asyncpg.Pool, item_id: str) -> str:
    """fetching (the run has not completed; pages are committed, and published, as they come), with
    "+publishing" while the relay has events to publish; publishing (completed, outbox not drained); done."""
    completed = await pool.fetchval("SELECT count(*) FROM sync_runs WHERE item_id = $1", item_id)
    unsent = await pool.fetchval("SELECT count(*) FROM outbox")
    if not completed:
        return "fetching+publishing" if unsent else "fetching"
    return "publishing" if unsent else "done"


async def staged(pool: asyncpg.Pool, item_id: str) -> int:
    """Events of the Item's run staged so far (in an outbox batch not yet released)."""
    return int(await pool.fetchval("SELECT count(*) FROM outbox_batch_rows WHERE owner = $1", item_id))


async def test_sigkill_during_a_large_backfill_converges_to_ground_truth(
    database_url: str, kafka_bootstrap_servers: str, uid: str, tmp_path: Path, reader
) -> None:
    rng = random.Random()
    with running_emulator(not_ready_delay=0, historical_delay=0) as emu:
        item = emu.create_item(transactions=TRANSACTIONS, ready=True)
        item_id = item["item_id"]
        tokens = tmp_path / "tokens.json"
        tokens.write_text(json.dumps({item_id: item["access_token"]}))
        env = worker_env(database_url, kafka_bootstrap_servers, emu.url, emu.client_id, emu.secret, uid)
        argv = [sys.executable, str(PROCS / "worker_main.py"), str(tokens)]
        log = (tmp_path / "worker.log").open("ab")

        async def start() -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=log)
            assert proc.stdout is not None
            try:
                line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
                assert line == b"worker started\n", (tmp_path / "worker.log").read_text()[-3000:]
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            return proc

        pool = await asyncpg.create_pool(
            database_url, server_settings={"search_path": f"sw_{uid}"}, min_size=1, max_size=2
        )
        proc: subprocess.Popen[bytes] | None = None
        try:
            proc = await start()
            producer = create_producer(kafka_bootstrap_servers, client_id="crash-test")
            await producer.start()
            linked = Envelope.new(
                source="bankstream/test",
                type="bankstream.item.linked.v1",
                subject=item_id,
                data={"item_id": item_id, "user_id": "u", "institution_id": "ins_109508", "accounts": []},
            )
            await producer.send_and_wait(f"t{uid}.bankstream.items", linked.to_json(), key=item_id.encode())
            await producer.stop()

            killed_in: list[str] = []
            for round_ in range(4):
                if round_ > 0:
                    proc = await start()
                if round_ < 2:  # before the run completes: while paging and staging
                    for _ in range(3000):
                        if await staged(pool, item_id) or await phase(pool, item_id) != "fetching":
                            break
                        await asyncio.sleep(0.01)
                    await asyncio.sleep(rng.uniform(0.0, 0.5))
                else:  # while the relay has events to publish (pages are released as they are committed)
                    for _ in range(3000):
                        if "publishing" in await phase(pool, item_id) or await phase(pool, item_id) == "done":
                            break
                        await asyncio.sleep(0.01)
                killed_in.append(await phase(pool, item_id))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                if killed_in[-1] == "done":
                    break
            assert any("fetching" in k for k in killed_in), killed_in
            assert any("publishing" in k for k in killed_in), killed_in

            proc = await start()
            for _ in range(1200):
                if await phase(pool, item_id) == "done":
                    break
                await asyncio.sleep(0.1)
            proc.terminate()
            proc.wait(15)
            runs = await pool.fetch("SELECT outcome, added FROM sync_runs WHERE item_id = $1", item_id)
            assert [(r["outcome"], r["added"]) for r in runs] == [("completed", TRANSACTIONS)]
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            await pool.close()
            log.close()

        records = await reader(
            f"t{uid}.bankstream.transactions", until=DistinctEvents(TRANSACTIONS), timeout=60
        )
        events = decode(records)
        state, sequences = apply(events, item_id)
        assert sequences == list(range(1, TRANSACTIONS + 1))
        assert per_account_in_order(events)
        problems = differences(state, emu.ground_truth(item_id))
        assert not problems, problems[:10]
        print(f"kills in phases {killed_in}; {len(records) - len(events)} duplicates absorbed by event id")
