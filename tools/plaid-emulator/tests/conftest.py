"""Fixtures: a running emulator, the official OpenAPI spec, plaid-python clients, a webhook receiver."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import plaid
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from plaid.api import plaid_api
from plaid_emulator.testing import RunningEmulator, running_emulator

REPO = Path(__file__).resolve().parents[3]
_SPEC = Path("shared", "plaid", "openapi", "2020-09-14.json")
# the shared/ folder beside the repository (or beside the folder of its worktrees)
SPEC_PATH = next((d / _SPEC for d in REPO.parents if (d / _SPEC).exists()), REPO.parent / _SPEC)


@pytest.fixture(scope="session")
def spec_dict() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.skip(f"Plaid's OpenAPI spec is not at {SPEC_PATH} (the shared/ folder beside the repo)")
    return dict(json.loads(SPEC_PATH.read_text()))


@pytest.fixture(scope="session")
def spec(spec_dict: dict[str, Any]) -> OpenAPI:
    # The spec is Plaid's published one: skip re-validating the document itself (9 s), validate responses.
    return OpenAPI.from_dict(spec_dict, config=Config(spec_validator_cls=None))


class SpecChecker:
    """Validates raw responses against the official spec; remembers what it covered."""

    def __init__(self, spec: OpenAPI) -> None:
        self.spec = spec
        self.covered: set[tuple[str, str]] = set()

    def check(self, path: str, body: dict[str, Any], status: int, content: bytes) -> dict[str, Any]:
        request = MockRequest(
            "https://sandbox.plaid.com", "post", path, data=json.dumps(body), content_type="application/json"
        )
        self.spec.validate_response(
            request, MockResponse(content, status_code=status, content_type="application/json")
        )
        self.covered.add((path, "success" if status == 200 else "error"))
        return dict(json.loads(content))


@pytest.fixture(scope="session")
def checker(spec: OpenAPI) -> SpecChecker:
    return SpecChecker(spec)


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(
        not_ready_delay=0, historical_delay=0, webhook_time_scale=0.001, tick_interval=0.05
    ) as running:
        yield running


@pytest.fixture
def client(emu: RunningEmulator) -> plaid_api.PlaidApi:
    """plaid-python pointed at the emulator; it checks return types by default."""
    configuration = plaid.Configuration(
        host=emu.url, api_key={"clientId": emu.client_id, "secret": emu.secret, "plaidVersion": "2020-09-14"}
    )
    return plaid_api.PlaidApi(plaid.ApiClient(configuration))


class WebhookReceiver:
    """A tiny HTTP server on a free loopback port; answers each POST with the next scripted status."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.put(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/plaid/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 10.0) -> tuple[dict[str, str], bytes]:
        return self.received.get(timeout=timeout)

    def wait_for(self, code: str, timeout: float = 10.0) -> tuple[dict[str, str], dict[str, Any], bytes]:
        while True:
            headers, raw = self.next(timeout)
            body = json.loads(raw)
            if body["webhook_code"] == code:
                return headers, body, raw

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()
