"""The token vault: Plaid access tokens encrypted at rest with AES-256-GCM, each row tagged with its key id.

A `Keyring` holds every configured key (id -> 32 bytes) and names the active one. `seal` encrypts with
the active key under a fresh 96-bit nonce; the associated data binds the ciphertext to its Item and key id,
so a row copied onto another Item does not decrypt. `open` uses the key the row names. A key that is not
configured, or one that does not authenticate the row, raises a VaultError saying which key id (never
any token). `rotate` (below) re-encrypts every row onto the active key while the service runs.
"""

import base64
import os
from dataclasses import dataclass

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..domain.errors import VaultError, VaultKeyMismatch, VaultKeyMissing

NONCE_BYTES = 12


@dataclass(frozen=True)
class SealedToken:
    key_id: str
    nonce: bytes
    ciphertext: bytes


def new_key() -> str:
    """A fresh 256-bit key, base64url, as the settings expect it."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def decode_key(key_id: str, encoded: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        raise VaultKeyMissing(f"vault key {key_id!r} is not valid base64") from None
    if len(raw) != 32:
        raise VaultKeyMissing(f"vault key {key_id!r} must be 32 bytes, got {len(raw)}")
    return raw


class Keyring:
    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise VaultKeyMissing(f"the active vault key {active_key_id!r} is not among the configured keys")
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active_key_id = active_key_id

    @classmethod
    def from_encoded(cls, keys: dict[str, str], active_key_id: str) -> "Keyring":
        return cls({kid: decode_key(kid, k) for kid, k in keys.items()}, active_key_id)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._aead)

    def seal(self, item_id: str, token: str) -> SealedToken:
        nonce = os.urandom(NONCE_BYTES)
        kid = self.active_key_id
        ciphertext = self._aead[kid].encrypt(nonce, token.encode(), _aad(item_id, kid))
        return SealedToken(kid, nonce, ciphertext)

    def open(self, item_id: str, sealed: SealedToken) -> str:
        aead = self._aead.get(sealed.key_id)
        if aead is None:
            raise VaultKeyMissing(
                f"the access token of item {item_id} is sealed with key {sealed.key_id!r}, "
                "which is not configured"
            )
        try:
            return aead.decrypt(sealed.nonce, sealed.ciphertext, _aad(item_id, sealed.key_id)).decode()
        except InvalidTag:
            raise VaultKeyMismatch(
                f"the access token of item {item_id} does not decrypt with key {sealed.key_id!r}: "
                "wrong key material for that id, or the row was altered"
            ) from None


def _aad(item_id: str, key_id: str) -> bytes:
    return f"bankstream/link-svc/access-token/v1|{item_id}|{key_id}".encode()


# -- storage ----------------------------------------------------------------------------------------------


async def store(conn: asyncpg.Connection, item_id: str, sealed: SealedToken) -> None:
    await conn.execute(
        """INSERT INTO access_tokens (item_id, key_id, nonce, ciphertext) VALUES ($1, $2, $3, $4)
           ON CONFLICT (item_id) DO UPDATE SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce,
               ciphertext = EXCLUDED.ciphertext, rotated_at = now()""",
        item_id,
        sealed.key_id,
        sealed.nonce,
        sealed.ciphertext,
    )


async def load(conn: asyncpg.Connection | asyncpg.Pool, item_id: str) -> SealedToken | None:
    row = await conn.fetchrow(
        "SELECT key_id, nonce, ciphertext FROM access_tokens WHERE item_id = $1", item_id
    )
    return SealedToken(row["key_id"], row["nonce"], row["ciphertext"]) if row else None


async def unusable_key_ids(pool: asyncpg.Pool, keyring: Keyring) -> set[str]:
    """Key ids that rows are sealed with and this keyring cannot open: not configured, or configured with
    the wrong material (one row per key id is opened to find out). Checked at start-up and before rotating."""
    rows = await pool.fetch(
        """SELECT DISTINCT ON (key_id) item_id, key_id, nonce, ciphertext FROM access_tokens
           ORDER BY key_id, item_id"""
    )
    unusable = set()
    for row in rows:
        try:
            keyring.open(row["item_id"], _sealed(row))
        except VaultError:
            unusable.add(row["key_id"])
    return unusable


@dataclass
class RotationReport:
    rotated: int
    remaining_by_key: dict[str, int]


async def rotate(pool: asyncpg.Pool, keyring: Keyring, *, batch_size: int = 200) -> RotationReport:
    """Re-encrypt every row not sealed with the active key, in small transactions, while the service runs.

    Rows are locked with SKIP LOCKED so live requests are never blocked for long. Each batch decrypts
    everything first and writes only if all of it decrypted: a missing or wrong key raises before any
    row of the batch is touched, and earlier batches are complete rotations (a rerun continues).
    """
    unusable = await unusable_key_ids(pool, keyring)
    if unusable:
        raise VaultKeyMissing(
            f"cannot rotate: rows are sealed with key ids {sorted(unusable)} that are not configured "
            "or do not decrypt with the configured key"
        )
    rotated = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT item_id, key_id, nonce, ciphertext FROM access_tokens WHERE key_id <> $1
                   ORDER BY item_id LIMIT $2 FOR UPDATE SKIP LOCKED""",
                keyring.active_key_id,
                batch_size,
            )
            if not rows:
                break
            resealed = [
                (r["item_id"], keyring.seal(r["item_id"], keyring.open(r["item_id"], _sealed(r))))
                for r in rows
            ]
            await conn.executemany(
                "UPDATE access_tokens SET key_id = $2, nonce = $3, ciphertext = $4, rotated_at = now() "
                "WHERE item_id = $1",
                [(item_id, s.key_id, s.nonce, s.ciphertext) for item_id, s in resealed],
            )
            rotated += len(resealed)
    counts = await pool.fetch("SELECT key_id, count(*) AS n FROM access_tokens GROUP BY key_id")
    return RotationReport(rotated, {r["key_id"]: r["n"] for r in counts})


def _sealed(row: asyncpg.Record) -> SealedToken:
    return SealedToken(row["key_id"], row["nonce"], row["ciphertext"])
