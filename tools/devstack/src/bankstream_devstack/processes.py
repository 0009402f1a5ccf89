"""Starting and stopping the child processes that hold the servers.

Every server runs in its own session (so a signal to the test runner's group does not reach it), writes
to a log file (never to our stdout, which CI reads) and is stopped with SIGTERM, then SIGKILL after a grace.
"""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import DevstackError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def require_free(port: int, what: str) -> None:
    if port_open(port):
        raise DevstackError(f"port {port} for {what} is already taken on 127.0.0.1: choose another port")


def spawn(
    argv: Sequence[str], log_file: Path, *, user: str | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )


def run(
    argv: Sequence[str], log_file: Path, what: str, *, user: str | None = None, timeout: float = 120
) -> None:
    """Run a short command to completion; its output goes to the log, a failure to one line."""
    proc = spawn(argv, log_file, user=user)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        terminate(proc.pid, grace=2)
        raise DevstackError(f"{what} did not finish within {timeout:.0f}s (log: {log_file})") from None
    if code != 0:
        raise DevstackError(f"{what} failed with exit code {code}: {last_line(log_file)} (log: {log_file})")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def terminate(pid: int, grace: float = 20.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL the process group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5)
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.05)


def last_line(log_file: Path) -> str:
    try:
        lines = [ln for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"
