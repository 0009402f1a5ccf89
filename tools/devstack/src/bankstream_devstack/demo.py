"""The demo of `make run`: link an Item through link-svc's API and the emulator's Link stand-in, then
watch its transactions arrive on Kafka. Also mints the dev tokens (through link-svc's own dev issuer)."""

import asyncio
import os
import subprocess
import sys
import time

import httpx
from aiokafka import AIOKafkaConsumer

TRANSACTIONS_TOPIC = "bankstream.transactions"


def mint_token(*args: str) -> str:
    """A dev bearer token from link-svc's dev issuer (key kept under the state directory)."""
    done = subprocess.run(
        [sys.executable, "-m", "link_svc.entrypoints.devtoken", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"devtoken failed: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def link_demo_item(link_url: str, emulator_url: str, token: str) -> dict[str, object]:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30) as http:
        mine = http.get(f"{link_url}/v1/items", headers=auth).raise_for_status().json()["items"]
        if mine:
            return dict(mine[0])
        link_token = http.post(f"{link_url}/v1/link-tokens", json={}, headers=auth).raise_for_status().json()
        success = (
            http.post(
                f"{emulator_url}/link/complete",
                json={
                    "link_token": link_token["link_token"],
                    "institution_id": "ins_109508",
                    "username": "user_transactions_dynamic",
                    "password": "pass_good",
                },
            )
            .raise_for_status()
            .json()
        )
        item = http.post(f"{link_url}/v1/items", json=success, headers=auth)
        return dict(item.raise_for_status().json())


async def count_transaction_events(bootstrap: str, *, at_least: int, within: float) -> int:
    consumer = AIOKafkaConsumer(
        TRANSACTIONS_TOPIC,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen = 0
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and seen < at_least:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen += len(records)
    finally:
        await consumer.stop()
    return seen


def run_demo(urls: dict[str, str], bootstrap: str, token: str) -> str:
    item = link_demo_item(urls["link-svc"], urls["plaid-emulator"], token)
    seen = asyncio.run(count_transaction_events(bootstrap, at_least=100, within=60))
    lines = [
        "",
        f"demo: Item {item['item_id']} at {item.get('institution_name') or item.get('institution_id')} "
        f"({len(item.get('accounts') or [])} accounts), status {item.get('status')}",
        f"demo: {seen}{'+' if seen >= 100 else ''} TransactionChanged events on {TRANSACTIONS_TOPIC} so far",
        "",
        "URLs:",
        *(f"  {name:<15} {url}" for name, url in urls.items()),
        f"  {'API docs':<15} {urls['link-svc']}/docs",
        f"  {'Link stand-in':<15} {urls['plaid-emulator']}/link?token=<link_token from POST /v1/link-tokens>",
        "",
        "dev token (user 'demo-user', 12 h):",
        f"  {token}",
        "",
        "try:",
        f"  curl -s -H 'Authorization: Bearer <token>' {urls['link-svc']}/v1/items",
    ]
    return "\n".join(lines)
