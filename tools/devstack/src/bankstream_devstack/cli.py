"""`devstack up|down|status`: the local Kafka and PostgreSQL of `make run`, one line per outcome."""

import argparse
import sys
import time

from .errors import DevstackError
from .stack import persistent_down, persistent_status, persistent_up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            started = time.monotonic()
            info = persistent_up()
            print(
                f"devstack up in {time.monotonic() - started:.1f}s: kafka {info.kafka_bootstrap_servers}, "
                f"postgres {info.database_url}"
            )
        elif args.command == "down":
            print("devstack stopped" if persistent_down() else "devstack was not running")
        elif args.command == "status":
            info = persistent_status()
            if info is None:
                print("devstack is down")
                return 3
            print(f"devstack is up: kafka {info.kafka_bootstrap_servers}, postgres {info.database_url}")
        else:  # env: shell exports for the services of `make run`
            info = persistent_status()
            if info is None:
                print("devstack is down", file=sys.stderr)
                return 3
            print(f"export KAFKA_BOOTSTRAP_SERVERS={info.kafka_bootstrap_servers}")
            print(f"export DATABASE_URL={info.database_url}")
    except DevstackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
