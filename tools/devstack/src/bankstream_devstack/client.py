"""A user of a running stack (bankstream_devstack.harness), driving it only through public HTTP APIs
(link-svc, ledger-api, the sync-worker's history) and the Plaid emulator's control API, and judging the
ledger against the emulator's ground truth. Shared by the end-to-end tests, the chaos run and the
pipeline benchmark.
"""

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from .harness import RunningStack

T = TypeVar("T")
USER_SCOPES = ("items:read", "items:write", "link:write", "ledger:read", "ledger:write")
# the fields of a Plaid transaction the ledger keeps as they are
PLAID_FIELDS = (
    "account_id",
    "amount",
    "iso_currency_code",
    "date",
    "authorized_date",
    "datetime",
    "name",
    "merchant_name",
    "pending",
    "pending_transaction_id",
)


def eventually(check: Callable[[], T], *, timeout: float, every: float = 1.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy (an AssertionError counts as not yet)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if result:
                return result
            last = result
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout:.0f}s; last: {str(last)[:2000]}")
        time.sleep(every)


class StackUser:
    """One user of the stack, with a dev token for link-svc, the sync-worker and ledger-api."""

    def __init__(self, stack: RunningStack, name: str) -> None:
        self.stack = stack
        self.name = name
        self.auth = {"Authorization": f"Bearer {stack.token(name, *USER_SCOPES)}"}
        self.http = httpx.Client(timeout=60)

    def link(self, path: str) -> str:
        return self.stack.url("link-svc") + path

    def ledger(self, path: str) -> str:
        return self.stack.url("ledger-api") + path

    def emulator(self, path: str) -> str:
        return self.stack.url("plaid-emulator") + "/emulator" + path

    def control(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, self.emulator(path), json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def link_item(self, transactions: int, **config: Any) -> dict[str, Any]:
        """Link through link-svc and the emulator's Link stand-in, the Item created with its size."""
        token = self.http.post(self.link("/v1/link-tokens"), json={}, headers=self.auth)
        assert token.status_code == 201, token.text
        success = self.http.post(
            self.stack.url("plaid-emulator") + "/link/complete",
            json={
                "link_token": token.json()["link_token"],
                "institution_id": "ins_109508",
                "username": "user_good",
                "password": "pass_good",
                "item_config": {"transactions": transactions, "ready": True, **config},
            },
        )
        assert success.status_code == 200, success.text
        item = self.http.post(self.link("/v1/items"), json=success.json(), headers=self.auth)
        assert item.status_code == 201, item.text
        return dict(item.json())

    def truth(self, item_id: str) -> dict[str, Any]:
        return dict(self.control("GET", f"/items/{item_id}/ground_truth"))

    def transactions(self, **params: Any) -> list[dict[str, Any]]:
        """Every page of the ledger's `GET /v1/transactions`."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 500, **params, **({"cursor": cursor} if cursor else {})}
            page = self.http.get(self.ledger("/v1/transactions"), params=query, headers=self.auth)
            assert page.status_code == 200, page.text
            body = page.json()
            out.extend(body["transactions"])
            cursor = body.get("next_cursor")
            if not cursor:
                return out

    def items(self, include_removed: bool = False) -> dict[str, dict[str, Any]]:
        answer = self.http.get(
            self.ledger("/v1/items"),
            params={"include_removed": str(include_removed).lower()},
            headers=self.auth,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        rows = body["items"] if isinstance(body, dict) else body
        return {i["item_id"]: i for i in rows}

    def ledger_count(self, item_id: str) -> int:
        item = self.items().get(item_id)
        return sum(int(a.get("transaction_count") or 0) for a in (item or {}).get("accounts", []))

    def mismatches(self, item_ids: list[str]) -> list[str]:
        """How the ledger differs from the emulator's ground truth, field by field (empty: equal)."""
        truth: dict[str, tuple[str, dict[str, Any]]] = {}
        for item_id in item_ids:
            for txn in self.truth(item_id)["transactions"]:
                truth[txn["transaction_id"]] = (item_id, txn)
        got: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for item_id in item_ids:
            for txn in self.transactions(item_id=item_id):
                if txn["transaction_id"] in got:
                    problems.append(f"duplicated {txn['transaction_id']}")
                got[txn["transaction_id"]] = txn
        problems += [f"lost {tid}" for tid in truth.keys() - got.keys()]
        problems += [f"not in the truth {tid}" for tid in got.keys() - truth.keys()]
        for tid in truth.keys() & got.keys():
            item_id, want = truth[tid]
            have = got[tid]
            fields = [f for f in PLAID_FIELDS if want.get(f) != have.get(f)]
            if have["item_id"] != item_id:
                fields.append("item_id")
            if fields:
                problems.append(
                    f"{tid}: " + ", ".join(f"{f} {have.get(f)!r} != {want.get(f)!r}" for f in fields)
                )
            if not (have.get("category") or {}).get("detailed"):
                problems.append(f"{tid}: not categorized")
        return problems

    def wait_converged(self, item_ids: list[str], timeout: float = 240.0) -> None:
        def counts_match() -> bool:
            want = {i: len(self.truth(i)["transactions"]) for i in item_ids}
            return all(self.ledger_count(i) == n for i, n in want.items())

        def equal() -> bool:
            problems = self.mismatches(item_ids)
            assert not problems, f"{len(problems)} differences: {problems[:20]}"
            return True

        eventually(counts_match, timeout=timeout, every=2.0, what="ledger counts equal to the truth")
        eventually(equal, timeout=60, every=2.0, what="the ledger equal to the ground truth")
