"""Run a service as a real process for a test: start it, wait until it answers, stop it with SIGTERM.

The process runs the service's console script from this virtualenv with the environment given, on a
free port, its output to a log file (never the test runner's pipes). Leaving the `with` block stops it,
pass or fail.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .issuer import TEST_ISSUER


@dataclass(frozen=True)
class ServiceUnderTest:
    script: str  # the console script, e.g. "link-svc"
    env_prefix: str  # e.g. "LINK_SVC_"
    env: Mapping[str, str] = field(default_factory=dict)  # what this service also needs to start

    @property
    def metric_prefix(self) -> str:
        return self.script.replace("-", "_")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def closed_port() -> int:
    """A port nothing listens on (bound and released: nobody else should take it this quickly)."""
    return free_port()


@dataclass
class ServiceProcess:
    service: ServiceUnderTest
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout: float = 5.0) -> HttpAnswer:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout) as r:  # noqa: S310
                return HttpAnswer(r.status, dict(r.headers), r.read().decode())
        except urllib.error.HTTPError as e:
            return HttpAnswer(e.code, dict(e.headers), e.read().decode())

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 30.0, path: str = "/healthz") -> None:
        """Until `path` answers 200: /healthz (the process serves) or /readyz (its workers run too)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.service.script} exited with {self.process.returncode}:\n{self.output()}"
                )
            with contextlib.suppress(OSError):
                if self.get(path, timeout=1.0).status == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"{self.service.script} did not answer {path} in {timeout}s:\n{self.output()}")

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, then the exit code (SIGKILL and an AssertionError if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"{self.service.script} ignored SIGTERM for {timeout}s:\n{self.output()}"
            ) from None


def service_env(
    service: ServiceUnderTest, *, database_url: str, kafka_bootstrap_servers: str, port: int
) -> dict[str, str]:
    """The environment a service needs in tests (env=test, so placeholder secrets would be refused), with
    its own database schema, topic prefix and consumer group: a developer's stack (`make run`) may share
    the same PostgreSQL and Kafka, and its data is none of the test's business."""
    p = service.env_prefix
    uid = uuid.uuid4().hex[:10]
    return {
        f"{p}SCHEMA_NAME": f"t_{uid}",
        f"{p}TOPIC_PREFIX": f"t{uid}.",
        f"{p}CONSUMER_GROUP": f"{service.script}-{uid}",
        f"{p}ENV": "test",
        f"{p}DATABASE_URL": database_url,
        f"{p}KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        f"{p}HTTP_PORT": str(port),
        f"{p}SHUTDOWN_GRACE_SECONDS": "5",
        "PLAID_CLIENT_ID": "test-client",
        "PLAID_SECRET": "test-secret-0f9c2a51",
        "PLAID_ENV": "emulator",
        "PLAID_BASE_URL": "http://127.0.0.1:9",
        **TEST_ISSUER.env(p),  # a service's own env (e.g. its own issuer) may override it
    }


@contextlib.contextmanager
def running_service(
    service: ServiceUnderTest,
    *,
    database_url: str,
    kafka_bootstrap_servers: str,
    extra_env: Mapping[str, str] | None = None,
    wait: bool = True,
) -> Iterator[ServiceProcess]:
    port = free_port()
    env = {
        **os.environ,
        **service_env(
            service, database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap_servers, port=port
        ),
        **service.env,
        **(extra_env or {}),
    }
    script = Path(sys.executable).parent / service.script
    fd, name = tempfile.mkstemp(prefix=f"{service.script}-", suffix=".log")
    log_path = Path(name)
    with os.fdopen(fd, "wb") as log_file:
        process = subprocess.Popen(
            [str(script)], env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    running = ServiceProcess(service, process, port, log_path)
    try:
        if wait:
            running.wait_healthy()
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log_path.unlink(missing_ok=True)
