"""For other packages' tests: run an emulator on a free loopback port for the duration of a `with` block.

with running_emulator(not_ready_delay=0, historical_delay=0) as emu:
    item = emu.create_item(transactions=500)      # {"item_id", "access_token", "public_token"}
    emu.advance(days=1)
    truth = emu.ground_truth(item["item_id"])
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from .app import create_app
from .config import EmulatorConfig


@dataclass
class RunningEmulator:
    url: str
    client_id: str
    secret: str
    http: httpx.Client

    def control(self, method: str, path: str, json: Any = None) -> Any:
        response = self.http.request(method, f"/emulator{path}", json=json)
        response.raise_for_status()
        return response.json()

    def plaid(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST a raw Plaid call with this emulator's credentials in the headers."""
        return self.http.post(
            path, json=body, headers={"PLAID-CLIENT-ID": self.client_id, "PLAID-SECRET": self.secret}
        )

    def create_item(self, **options: Any) -> dict[str, str]:
        """Options: institution_id, username, password, webhook, days_requested, transactions, currency,
        ready (skip the not-ready delay)."""
        return dict(self.control("POST", "/items", options))

    def advance(self, days: float = 0, hours: float = 0, seconds: float = 0) -> str:
        return str(
            self.control("POST", "/clock/advance", {"days": days, "hours": hours, "seconds": seconds})["now"]
        )

    def ground_truth(self, item_id: str) -> dict[str, Any]:
        return dict(self.control("GET", f"/items/{item_id}/ground_truth"))

    def set_fault(self, **rule: Any) -> dict[str, Any]:
        return dict(self.control("POST", "/faults", rule))

    def clear_faults(self) -> None:
        self.control("DELETE", "/faults")

    def set_item_error(self, item_id: str, error_code: str | None) -> None:
        self.control("POST", f"/items/{item_id}/error", {"error_code": error_code})

    def refresh(self, item_id: str) -> None:
        self.control("POST", f"/items/{item_id}/refresh")

    def webhook_attempts(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/webhooks")["attempts"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_emulator(**config: Any) -> Iterator[RunningEmulator]:
    """Config keys are EmulatorConfig fields; rate limits are off unless asked for."""
    config.setdefault("rate_limits", False)
    cfg = EmulatorConfig(**config)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(cfg), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name=f"plaid-emulator:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Plaid emulator did not start")
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            yield RunningEmulator(url, cfg.client_id, cfg.secret, http)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
