"""`python -m plaid_emulator` / `plaid-emulator`: serve the emulator with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from .app import create_app
from .config import EmulatorConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="plaid-emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--client-id")
    parser.add_argument("--secret")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--not-ready-delay", type=float, help="seconds before an Item's first 30 days are ready"
    )
    parser.add_argument("--historical-delay", type=float, help="further seconds before its full history is")
    parser.add_argument(
        "--refresh-delay", type=float, help="seconds until a /transactions/refresh finds its new data"
    )
    parser.add_argument("--webhook-time-scale", type=float, help="multiplies Plaid's webhook retry delays")
    parser.add_argument("--default-transactions", type=int, help="transactions per Item (default 4 per day)")
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("--snapshot", help="a file that keeps the Items across restarts (default: none)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    config = EmulatorConfig.from_env(
        client_id=args.client_id,
        secret=args.secret,
        seed=args.seed,
        not_ready_delay=args.not_ready_delay,
        historical_delay=args.historical_delay,
        refresh_delay=args.refresh_delay,
        webhook_time_scale=args.webhook_time_scale,
        default_transactions=args.default_transactions,
        rate_limits=False if args.no_rate_limits else None,
        snapshot=args.snapshot,
        # This process is the emulator's own (unless PLAID_EMULATOR_GC_FREEZE says otherwise).
        gc_freeze=None if os.environ.get("PLAID_EMULATOR_GC_FREEZE") else True,
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # uvicorn's access log shows paths only; bodies (access tokens, secrets) are never logged.
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
