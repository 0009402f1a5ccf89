"""A PostgreSQL server from Debian's postgresql-15 binaries, initialised and started on a chosen port.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user (runuser);
as anyone else, to that user. Authentication is `trust` on 127.0.0.1 only: this is a developer's and CI's
throwaway server, never a deployment.
"""

import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import processes
from .errors import DevstackError

PG_MAJOR = os.environ.get("BANKSTREAM_PG_MAJOR", "15")
FAST_OPTIONS = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def find_bindir() -> Path:
    """The server binaries; installs Debian's package when they are missing and we are root."""
    for candidate in [f"/usr/lib/postgresql/{PG_MAJOR}/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"))]:
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        pkg = f"postgresql-{PG_MAJOR}"
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", pkg]):
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=600,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
            if done.returncode != 0:
                raise DevstackError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()[-200:]}")
        return find_bindir_installed()
    raise DevstackError(f"PostgreSQL binaries not found: apt-get install -y postgresql-{PG_MAJOR}")


def find_bindir_installed() -> Path:
    bindir = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
    if not (bindir / "initdb").exists():
        raise DevstackError(f"postgresql-{PG_MAJOR} was installed but {bindir}/initdb is missing")
    return bindir


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    fast: bool = True
    user: str | None = field(default=None)

    def __post_init__(self) -> None:
        if self.user is None and os.geteuid() == 0:
            self.user = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def cluster(self) -> Path:
        return self.data_dir / "cluster"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def _own(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            shutil.chown(self.data_dir, user=self.user)
            for parent in [self.data_dir, *self.data_dir.parents]:  # the server user must be able to reach it
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)

    def start(self, timeout: float = 60.0) -> None:
        bindir = find_bindir()
        processes.require_free(self.port, "PostgreSQL")
        self._own()
        if not (self.cluster / "PG_VERSION").exists():
            processes.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.cluster),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                self.data_dir / "initdb.log",
                "initdb",
                user=self.user,
                timeout=120,
            )
        options = [
            "-p",
            str(self.port),
            "-k",
            str(self.data_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=200",
        ]
        if self.fast:
            options += list(FAST_OPTIONS)
        processes.run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.cluster),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                " ".join(options),
                "start",
            ],
            self.data_dir / "pg_ctl.log",
            "starting PostgreSQL",
            user=self.user,
            timeout=timeout + 10,
        )
        self._wait_accepting(timeout)

    def _wait_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if processes.port_open(self.port):
                return
            time.sleep(0.05)
        raise DevstackError(f"PostgreSQL did not accept connections on {self.port} (log: {self.log_file})")

    def running(self) -> bool:
        return (self.cluster / "postmaster.pid").exists() and processes.port_open(self.port)

    def stop(self) -> None:
        if not (self.cluster / "postmaster.pid").exists():
            return
        bindir = find_bindir()
        try:
            processes.run(
                [str(bindir / "pg_ctl"), "-D", str(self.cluster), "-m", "fast", "-w", "stop"],
                self.data_dir / "pg_ctl.log",
                "stopping PostgreSQL",
                user=self.user,
                timeout=60,
            )
        except DevstackError:
            pid_line = (self.cluster / "postmaster.pid").read_text().splitlines()[0]
            processes.terminate(int(pid_line), grace=5)
