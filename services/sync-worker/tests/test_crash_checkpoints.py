"""A crash costs at most the pages in flight (ADR 0011): the worker, a real process, SIGKILLed at ~90% of a
100-page backfill; the restarted worker carries the loop on from the last committed page, so it asks Plaid
again for none of the pages committed before the kill, and the stream still equals the ground truth."""

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from plaid_emulator.testing import running_emulator

from .stream import DistinctEvents, apply, decode, differences, per_account_in_order
from .test_crash_rounds import PROCS, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
TRANSACTIONS = 50_000
PAGES = TRANSACTIONS // 500
PAGE_PROCESSES = 2  # the pipeline holds up to page_processes + 1 pages being built, and one fetch ahead


async def test_a_worker_killed_at_90_percent_of_a_backfill_repeats_no_committed_page(
    database_url: str, kafka_bootstrap_servers: str, uid: str, tmp_path: Path, reader
) -> None:
    with running_emulator(not_ready_delay=0, historical_delay=0) as emu:
        item = emu.create_item(transactions=TRANSACTIONS, ready=True)
        item_id = item["item_id"]
        tokens = tmp_path / "tokens.json"
        tokens.write_text(json.dumps({item_id: item["access_token"]}))
        env = worker_env(database_url, kafka_bootstrap_servers, emu.url, emu.client_id, emu.secret, uid)
        env["SYNC_WORKER_PAGE_PROCESSES"] = str(PAGE_PROCESSES)
        argv = [sys.executable, str(PROCS / "worker_main.py"), str(tokens)]
        log = (tmp_path / "worker.log").open("ab")

        def calls() -> int:
            """/transactions/sync calls of the Item so far (a fault rule without fault counts them)."""
            (rule,) = emu.control("GET", "/faults")
            return int(rule["fired"])

        async def start() -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=log)
            assert proc.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
            assert line == b"worker started\n", (tmp_path / "worker.log").read_text()[-3000:]
            return proc

        # 40 ms a page: the kill lands where it is aimed, whatever the machine's load
        emu.set_fault(endpoint="/transactions/sync", item_id=item_id, latency_ms=40, count=None)
        pool = await asyncpg.create_pool(
            database_url, server_settings={"search_path": f"sw_{uid}"}, min_size=1, max_size=2
        )
        proc = await start()
        try:
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

            for _ in range(6000):
                pages = await pool.fetchval("SELECT loop_pages FROM sync_items WHERE item_id = $1", item_id)
                if pages and pages >= PAGES * 9 // 10:
                    break
                await asyncio.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            called = calls()
            committed = await pool.fetchval("SELECT loop_pages FROM sync_items WHERE item_id = $1", item_id)
            assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 0, "killed before the end"
            assert PAGES * 9 // 10 <= committed < PAGES
            # what the kill lost: the pages fetched and not committed (those the pipeline held)
            assert called - committed <= PAGE_PROCESSES + 2, (called, committed)

            proc = await start()
            for _ in range(2400):  # the run completed and the relay published everything
                done = await pool.fetchval("SELECT count(*) FROM sync_runs WHERE item_id = $1", item_id)
                if done and not await pool.fetchval("SELECT count(*) FROM outbox"):
                    break
                await asyncio.sleep(0.05)
            proc.terminate()
            proc.wait(15)
            after = calls() - called
            (run,) = await pool.fetch("SELECT * FROM sync_runs WHERE item_id = $1", item_id)
            assert (run["outcome"], run["added"], run["pages"]) == ("completed", TRANSACTIONS, PAGES)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            await pool.close()
            log.close()
        # the restarted worker asked for exactly the pages not committed: none of the committed repeated
        assert after == PAGES - committed, (after, committed)

        records = await reader(
            f"t{uid}.bankstream.transactions", until=DistinctEvents(TRANSACTIONS), timeout=60
        )
        events = decode(records)
        state, sequences = apply(events, item_id)
        assert sequences == list(range(1, TRANSACTIONS + 1))
        assert per_account_in_order(events)
        problems = differences(state, emu.ground_truth(item_id))
        assert not problems, problems[:10]
        print(f"killed after {committed}/{PAGES} pages committed, {called} asked; the restart asked {after}")
