"""`python -m link_svc.entrypoints.vault_cli`: the token vault's operator commands.

    new-key   print a fresh 256-bit key (base64url) to add to LINK_SVC_VAULT_KEYS
    status    how many access tokens each key id seals, and whether every one is configured
    rotate    re-encrypt every token onto LINK_SVC_VAULT_ACTIVE_KEY_ID, while the service runs

Key rotation, step by step:
  1. add the new key to LINK_SVC_VAULT_KEYS (keep the old one) and make it the active key id; roll the
     service out (new tokens are now sealed with it; old rows still open with the old key)
  2. run `rotate` with that same configuration; it is safe to rerun and to run while serving
  3. when `status` shows no row on the old key id, remove the old key from LINK_SVC_VAULT_KEYS
A missing or wrong key stops `rotate` before it writes anything of the batch at hand (see vault.rotate).
"""

import argparse
import asyncio
import sys

from bankstream_common.db import create_pool
from bankstream_common.logging import configure_logging
from bankstream_common.settings import load_settings

from ..adapters import vault
from ..bootstrap import keyring_from
from ..config import Settings
from ..domain.errors import VaultError


async def _status(settings: Settings) -> int:
    keyring = keyring_from(settings)
    pool = await create_pool(settings.database_url.get_secret_value(), schema=settings.schema_name)
    try:
        rows = await pool.fetch("SELECT key_id, count(*) AS n FROM access_tokens GROUP BY key_id ORDER BY 1")
    finally:
        await pool.close()
    for r in rows:
        known = "configured" if r["key_id"] in keyring.key_ids else "MISSING"
        active = " (active)" if r["key_id"] == keyring.active_key_id else ""
        print(f"{r['key_id']}\t{r['n']}\t{known}{active}")
    return 0 if all(r["key_id"] in keyring.key_ids for r in rows) else 1


async def _rotate(settings: Settings, batch_size: int) -> int:
    keyring = keyring_from(settings)
    pool = await create_pool(settings.database_url.get_secret_value(), schema=settings.schema_name)
    try:
        report = await vault.rotate(pool, keyring, batch_size=batch_size)
    finally:
        await pool.close()
    print(f"rotated {report.rotated} access tokens onto {keyring.active_key_id}")
    print(f"access tokens by key id now: {report.remaining_by_key}")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vault_cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("new-key")
    sub.add_parser("status")
    rotate = sub.add_parser("rotate")
    rotate.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args(argv)
    if args.command == "new-key":
        print(vault.new_key())
        return
    settings = load_settings(Settings)
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json, stream=sys.stderr)
    try:
        code = asyncio.run(
            _status(settings) if args.command == "status" else _rotate(settings, args.batch_size)
        )
    except VaultError as exc:
        print(f"vault: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
