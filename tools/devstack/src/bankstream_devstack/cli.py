"""`devstack up|down|status|env`: the local Kafka and PostgreSQL of `make run`, one line per outcome.

A second stack beside the first needs its own state directory and ports, e.g.
`devstack up --state-dir /tmp/mystack --kafka-port 9192 --kafka-controller-port 9193 --pg-port 5533`
(then `devstack status --state-dir /tmp/mystack`, `devstack down --state-dir /tmp/mystack`).
"""

import argparse
import sys
import time
from pathlib import Path

from .errors import DevstackError
from .stack import StackPorts, external_database_notice, persistent_down, persistent_status, persistent_up


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("command", choices=["up", "down", "status", "env"])
    p.add_argument(
        "--state-dir",
        type=Path,
        help="where the stack keeps its data, logs and stack.json "
        "(default: $BANKSTREAM_STATE_DIR, else $XDG_STATE_HOME/bankstream, else ~/.local/state/bankstream)",
    )
    p.add_argument(
        "--kafka-port", type=int, help="Kafka's client port (default: $BANKSTREAM_KAFKA_PORT, else 9092)"
    )
    p.add_argument(
        "--kafka-controller-port",
        type=int,
        help="Kafka's KRaft controller port (default: $BANKSTREAM_KAFKA_CONTROLLER_PORT, else 9093)",
    )
    p.add_argument(
        "--pg-port",
        type=int,
        help="PostgreSQL's port (default: $BANKSTREAM_PG_PORT, else 5433); "
        "no PostgreSQL is started when DATABASE_URL is set (devstack says so)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    root: Path | None = args.state_dir.resolve() if args.state_dir else None
    try:
        if args.command == "up":
            notice = external_database_notice()
            if notice:
                print(f"devstack: {notice}", flush=True)
            started = time.monotonic()
            ports = StackPorts.from_env(args.kafka_port, args.kafka_controller_port, args.pg_port)
            info = persistent_up(root, ports)
            print(
                f"devstack up in {time.monotonic() - started:.1f}s: kafka {info.kafka_bootstrap_servers}, "
                f"postgres {info.database_url}"
            )
        elif args.command == "down":
            print("devstack stopped" if persistent_down(root) else "devstack was not running")
        elif args.command == "status":
            running = persistent_status(root)
            if running is None:
                print("devstack is down")
                return 3
            print(f"devstack is up: kafka {running.kafka_bootstrap_servers}, postgres {running.database_url}")
        else:  # env: shell exports for the services of `make run`
            running = persistent_status(root)
            if running is None:
                print("devstack is down", file=sys.stderr)
                return 3
            print(f"export KAFKA_BOOTSTRAP_SERVERS={running.kafka_bootstrap_servers}")
            print(f"export DATABASE_URL={running.database_url}")
    except DevstackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
