"""`python -m link_svc.entrypoints.devtoken`: mint a dev bearer token from the dev issuer's key (dev only).

    python -m link_svc.entrypoints.devtoken --sub user-1                    # a user token
    python -m link_svc.entrypoints.devtoken --service sync-worker --scope vault:read
    python -m link_svc.entrypoints.devtoken --public-key                    # the PEM link-svc trusts

The token goes to stdout and nowhere else.
"""

import argparse

from bankstream_common.dev_issuer import (
    DEV_AUDIENCES,
    DEV_ISSUER,
    load_or_create_private_key,
    mint,
    public_pem,
)

from ..domain.access import Scope

USER_SCOPES = [Scope.ITEMS_READ.value, Scope.ITEMS_WRITE.value, Scope.LINK_WRITE.value]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="devtoken", description=__doc__.splitlines()[0])
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--sub", default="dev-user", help="the user id of a user token")
    who.add_argument("--service", help="mint a service token for this service name")
    parser.add_argument("--scope", action="append", help="a scope (repeatable); user scopes by default")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    parser.add_argument("--audience", action="append", help=f"repeatable; default: {' '.join(DEV_AUDIENCES)}")
    parser.add_argument("--issuer", default=DEV_ISSUER)
    parser.add_argument("--public-key", action="store_true", help="print the dev issuer's public key")
    args = parser.parse_args(argv)
    key = load_or_create_private_key()
    if args.public_key:
        print(public_pem(key), end="")
        return
    scopes = args.scope or ([Scope.VAULT_READ.value] if args.service else USER_SCOPES)
    token = mint(
        key,
        subject=args.service or args.sub,
        scopes=scopes,
        kind="service" if args.service else "user",
        audience=args.audience or DEV_AUDIENCES,
        issuer=args.issuer,
        ttl=args.ttl,
    )
    print(token)


if __name__ == "__main__":
    main()
