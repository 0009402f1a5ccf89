"""Chaos under Plaid's rate limits: 3 Items of 10,000 transactions, the worker (a real process) SIGKILLed 6
times at random moments (a fixed seed: the same moments on any code), the emulator enforcing Plaid's
limits (50 /transactions/sync calls per Item per minute, 2,500 per client) and the worker pacing at
Plaid's defaults. It must converge: every Item's stream, deduplicated by event id and applied in order,
equals the ground truth. Prints the time to converge (from the links to the last event published)."""

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from plaid_emulator.testing import running_emulator

from .stream import DistinctEvents, apply, decode, differences, per_account_in_order
from .test_crash_rounds import PROCS, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1500)]
ITEMS, TRANSACTIONS, KILLS = 3, 10_000, 6


async def test_sigkills_under_plaids_rate_limits_converge(
    database_url: str, kafka_bootstrap_servers: str, uid: str, tmp_path: Path, reader
) -> None:
    rng = random.Random(18)
    with running_emulator(not_ready_delay=0, historical_delay=0, rate_limits=True) as emu:
        items = [emu.create_item(transactions=TRANSACTIONS, ready=True) for _ in range(ITEMS)]
        tokens = tmp_path / "tokens.json"
        tokens.write_text(json.dumps({i["item_id"]: i["access_token"] for i in items}))
        env = worker_env(database_url, kafka_bootstrap_servers, emu.url, emu.client_id, emu.secret, uid)
        for name in (
            "SYNC_WORKER_PLAID_SYNC_CALLS_PER_WINDOW",
            "SYNC_WORKER_PLAID_CLIENT_SYNC_CALLS_PER_WINDOW",
        ):
            env.pop(name, None)  # Plaid's limits, paced at the worker's defaults
        argv = [sys.executable, str(PROCS / "worker_main.py"), str(tokens)]
        log = (tmp_path / "worker.log").open("ab")

        async def start() -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=log)
            assert proc.stdout is not None
            try:
                line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 300)
                assert line == b"worker started\n", (tmp_path / "worker.log").read_text()[-3000:]
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            return proc

        pool = await asyncpg.create_pool(
            database_url, server_settings={"search_path": f"sw_{uid}"}, min_size=1, max_size=2
        )

        async def converged() -> bool:
            done = await pool.fetchval(
                "SELECT count(DISTINCT item_id) FROM sync_runs WHERE outcome = 'completed'"
            )
            return done == ITEMS and not await pool.fetchval("SELECT count(*) FROM outbox")

        proc = await start()
        try:
            producer = create_producer(kafka_bootstrap_servers, client_id="chaos-test")
            await producer.start()
            for item in items:
                linked = Envelope.new(
                    source="bankstream/test",
                    type="bankstream.item.linked.v1",
                    subject=item["item_id"],
                    data={
                        "item_id": item["item_id"],
                        "user_id": "u",
                        "institution_id": "ins_109508",
                        "accounts": [],
                    },
                )
                await producer.send_and_wait(
                    f"t{uid}.bankstream.items", linked.to_json(), key=item["item_id"].encode()
                )
            await producer.stop()
            t0 = time.monotonic()
            busy = 0.0  # time the worker was up: its start-ups on a loaded machine are not the code's
            kills = 0
            for _ in range(KILLS):
                alive = rng.uniform(1.0, 6.0)
                await asyncio.sleep(alive)
                busy += alive
                if await converged():
                    break
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                proc = await start()
            started = time.monotonic()
            for _ in range(6000):
                if await converged():
                    break
                await asyncio.sleep(0.1)
            busy += time.monotonic() - started
            wall = time.monotonic() - t0
            proc.terminate()
            proc.wait(15)
            assert await converged()
            failed = await pool.fetchval("SELECT count(*) FROM sync_runs WHERE outcome = 'failed'")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            await pool.close()
            log.close()

        worker_log = (tmp_path / "worker.log").read_text()
        limited = worker_log.count("TRANSACTIONS_SYNC_LIMIT")
        records = await reader(
            f"t{uid}.bankstream.transactions", until=DistinctEvents(ITEMS * TRANSACTIONS), timeout=120
        )
        events = decode(records)
        assert per_account_in_order(events)
        for item in items:
            state, sequences = apply(events, item["item_id"])
            assert sequences == list(range(1, len(sequences) + 1))
            problems = differences(state, emu.ground_truth(item["item_id"]))
            assert not problems, problems[:10]
        print(
            f"CHAOS converged: {busy:.1f} s of worker uptime ({wall:.1f} s wall) after the links, "
            f"{kills} kills, {failed} failed runs, {limited} log lines naming TRANSACTIONS_SYNC_LIMIT"
        )
