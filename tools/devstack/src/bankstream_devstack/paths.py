"""Where the devstack keeps jars, data and logs: always outside the git work tree."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]


def cache_dir() -> Path:
    """Downloaded artifacts, reused across runs (the Kafka jars)."""
    base = os.environ.get("BANKSTREAM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "bankstream"
    )
    return Path(base)


def state_dir() -> Path:
    """Persistent data of `make run` (Kafka log dirs, the PostgreSQL cluster, pid files)."""
    base = os.environ.get("BANKSTREAM_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME", str(Path.home() / ".local" / "state")), "bankstream"
    )
    return Path(base)
