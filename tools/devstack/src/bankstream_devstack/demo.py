"""The demo of `make run`: link an Item through link-svc's API and the emulator's Link stand-in, then
watch the ledger fill up, read from the ledger-api over HTTP with the demo user's dev token (counts, the
Item's status and last sync, then the categories). Also mints the dev tokens (through link-svc's own dev
issuer)."""

import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx


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


def link_demo_item(link_url: str, emulator_url: str, token: str) -> dict[str, Any]:
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


def ledger_snapshot(http: httpx.Client, ledger_url: str) -> dict[str, Any]:
    """What the ledger-api holds for the demo user: Items, accounts, transactions, the last sync."""
    items = http.get(f"{ledger_url}/v1/items").raise_for_status().json()["items"]
    accounts = [a for item in items for a in item.get("accounts") or []]
    synced = [i["last_synced_at"] for i in items if i.get("last_synced_at")]
    return {
        "items": len(items),
        "accounts": len(accounts),
        "transactions": sum(int(a.get("transaction_count") or 0) for a in accounts),
        "last_sync": max(synced) if synced else None,
        "status": ", ".join(sorted({str(i.get("status")) for i in items})) or "none yet",
    }


def category_counts(http: httpx.Client, ledger_url: str, pages: int = 20) -> Counter[str]:
    """Transactions per effective category (primary), read page by page from GET /v1/transactions."""
    counts: Counter[str] = Counter()
    cursor = None
    for _ in range(pages):
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = http.get(f"{ledger_url}/v1/transactions", params=params).raise_for_status().json()
        counts.update(
            (t.get("category") or {}).get("primary") or "UNCATEGORIZED" for t in page["transactions"]
        )
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return counts


def watch_ledger(ledger_url: str, token: str, *, within: float = 90.0, settle: float = 3.0) -> list[str]:
    """Print the ledger filling up (read over HTTP as the demo user) until its count holds still for
    `settle` seconds after a sync finished, or `within` seconds pass; returns the closing summary."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30, headers=auth) as http:
        deadline, last, still_since = time.monotonic() + within, None, time.monotonic()
        while time.monotonic() < deadline:
            now = ledger_snapshot(http, ledger_url)
            if now != last:
                print(
                    f"ledger: {now['transactions']:>6,} transactions in {now['accounts']} accounts, "
                    f"Item {now['status']}, last sync {now['last_sync'] or 'not yet'}",
                    flush=True,
                )
                last, still_since = now, time.monotonic()
            elif now["last_sync"] and now["transactions"] and time.monotonic() - still_since >= settle:
                break
            time.sleep(0.5)
        categories = category_counts(http, ledger_url)
    top = ", ".join(f"{name} {n:,}" for name, n in categories.most_common(6))
    return [
        f"ledger: {sum(categories.values()):,} transactions, every one categorized: {top}"
        + (", ..." if len(categories) > 6 else ""),
    ]


def run_demo(urls: dict[str, str], token: str) -> str:
    item = link_demo_item(urls["link-svc"], urls["plaid-emulator"], token)
    bank = item.get("institution_name") or item.get("institution_id")
    print(
        f"\ndemo: linked Item {item['item_id']} at {bank} ({len(item.get('accounts') or [])} accounts) "
        "through link-svc; the ledger-api fills up:",
        flush=True,
    )
    lines = [
        *watch_ledger(urls["ledger-api"], token),
        "",
        "URLs:",
        *(f"  {name:<15} {url}" for name, url in urls.items()),
        f"  {'API docs':<15} {urls['link-svc']}/docs",
        f"  {'Link stand-in':<15} {urls['plaid-emulator']}/link?token=<link_token from POST /v1/link-tokens>",
        "",
        "dev token (user 'demo-user', 12 h); read the ledger with it in another terminal:",
        f"  TOKEN={token}",
        f'  curl -s -H "Authorization: Bearer $TOKEN" "{urls["ledger-api"]}/v1/transactions?limit=2"',
    ]
    return "\n".join(lines)
