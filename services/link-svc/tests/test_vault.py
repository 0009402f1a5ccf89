"""The token vault: authenticated encryption per row, key ids, rotation while in use, clear key errors."""

import asyncio
import json
import os
import subprocess
import sys

import asyncpg
import pytest
from bankstream_common.dev_issuer import public_pem
from cryptography.hazmat.primitives.asymmetric import ec
from link_svc.adapters import vault
from link_svc.bootstrap import bootstrap
from link_svc.config import Settings
from link_svc.domain.errors import VaultKeyMismatch, VaultKeyMissing

K1, K2 = vault.new_key(), vault.new_key()
TOKEN = "access-sandbox-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def ring(keys: dict[str, str], active: str) -> vault.Keyring:
    return vault.Keyring.from_encoded(keys, active)


def test_sealed_tokens_open_with_their_key_and_never_contain_the_plaintext() -> None:
    keyring = ring({"k1": K1}, "k1")
    sealed = keyring.seal("item-1", TOKEN)
    assert sealed.key_id == "k1" and TOKEN.encode() not in sealed.ciphertext
    assert keyring.open("item-1", sealed) == TOKEN
    assert keyring.seal("item-1", TOKEN).nonce != sealed.nonce


def test_a_row_copied_onto_another_item_or_altered_does_not_open() -> None:
    keyring = ring({"k1": K1}, "k1")
    sealed = keyring.seal("item-1", TOKEN)
    with pytest.raises(VaultKeyMismatch):
        keyring.open("item-2", sealed)
    flipped = vault.SealedToken("k1", sealed.nonce, bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:])
    with pytest.raises(VaultKeyMismatch):
        keyring.open("item-1", flipped)


def test_missing_or_wrong_keys_are_clear_errors_that_name_the_key_not_the_token() -> None:
    sealed = ring({"k1": K1}, "k1").seal("item-1", TOKEN)
    with pytest.raises(VaultKeyMissing, match="'k1'") as missing:
        ring({"k2": K2}, "k2").open("item-1", sealed)
    with pytest.raises(VaultKeyMismatch, match="'k1'") as wrong:
        ring({"k1": K2}, "k1").open("item-1", sealed)
    for err in (missing.value, wrong.value):
        assert TOKEN not in str(err) and K1 not in str(err)
    with pytest.raises(VaultKeyMissing, match="active"):
        ring({"k1": K1}, "k2")
    with pytest.raises(VaultKeyMissing, match="32 bytes"):
        ring({"k1": "c2hvcnQ"}, "k1")


async def _insert(pool: asyncpg.Pool, keyring: vault.Keyring, n: int) -> dict[str, str]:
    tokens = {f"item-{i:04d}": f"access-sandbox-{i:08d}-0000-4000-8000-000000000000" for i in range(n)}
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            "INSERT INTO items (item_id, user_id) VALUES ($1, 'u')", [(item,) for item in tokens]
        )
        for item, token in tokens.items():
            await vault.store(conn, item, keyring.seal(item, token))
    return tokens


@pytest.mark.integration
async def test_rotation_reencrypts_every_row_while_tokens_keep_being_read(pool: asyncpg.Pool) -> None:
    old = ring({"k1": K1}, "k1")
    tokens = await _insert(pool, old, 450)
    both = ring({"k1": K1, "k2": K2}, "k2")  # step 1: the new key is active, the old one still known
    stop = asyncio.Event()
    reads = 0

    async def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            for item in ("item-0000", "item-0225", "item-0449"):
                sealed = await vault.load(pool, item)
                assert sealed is not None and both.open(item, sealed) == tokens[item]
                reads += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(reader())
    report = await vault.rotate(pool, both, batch_size=100)
    stop.set()
    await task
    assert report.rotated == 450 and report.remaining_by_key == {"k2": 450} and reads > 0
    new_only = ring({"k2": K2}, "k2")  # step 3: the old key is retired
    assert await vault.unusable_key_ids(pool, new_only) == set()
    for item in ("item-0000", "item-0449"):
        sealed = await vault.load(pool, item)
        assert sealed is not None and new_only.open(item, sealed) == tokens[item]
    assert (await vault.rotate(pool, both)).rotated == 0


@pytest.mark.integration
async def test_rotation_with_a_missing_key_writes_nothing(pool: asyncpg.Pool) -> None:
    await _insert(pool, ring({"k1": K1}, "k1"), 5)
    before = await pool.fetch("SELECT item_id, key_id, nonce, ciphertext FROM access_tokens ORDER BY item_id")
    with pytest.raises(VaultKeyMissing, match="k1"):
        await vault.rotate(pool, ring({"k2": K2}, "k2"))
    with pytest.raises(VaultKeyMissing, match="do not decrypt"):  # k1 configured, with the wrong material
        await vault.rotate(pool, ring({"k1": K2, "k2": K2}, "k2"))
    after = await pool.fetch("SELECT item_id, key_id, nonce, ciphertext FROM access_tokens ORDER BY item_id")
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


@pytest.mark.integration
async def test_the_service_refuses_to_start_on_rows_its_keys_cannot_open(
    pool: asyncpg.Pool, schema: str, database_url: str, kafka_bootstrap_servers: str
) -> None:
    await _insert(pool, ring({"k1": K1}, "k1"), 3)
    for keys in ({"k2": K2}, {"k1": K2}):  # the old key missing; the old key id with other material
        settings = Settings(
            env="test",
            database_url=database_url,
            kafka_bootstrap_servers=kafka_bootstrap_servers,
            plaid_base_url="http://127.0.0.1:9",
            plaid_client_id="c",
            plaid_secret="s-0f9c2a51",
            jwt_public_keys={"t": public_pem(ec.generate_private_key(ec.SECP256R1()))},
            vault_keys=json.dumps(keys),
            vault_active_key_id=next(iter(keys)),
            schema_name=schema,
        )
        container = await bootstrap(settings)
        try:
            with pytest.raises(VaultKeyMissing, match="k1") as refused:
                await container.background.run()
            assert K1 not in str(refused.value) and K2 not in str(refused.value)
        finally:
            await container.aclose()


@pytest.mark.integration
async def test_the_rotation_command_moves_every_row_to_the_active_key(
    pool: asyncpg.Pool, schema: str, database_url: str, kafka_bootstrap_servers: str
) -> None:
    tokens = await _insert(pool, ring({"k1": K1}, "k1"), 7)
    env = {
        **os.environ,
        "LINK_SVC_ENV": "test",
        "LINK_SVC_DATABASE_URL": database_url,
        "LINK_SVC_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "LINK_SVC_SCHEMA_NAME": schema,
        "LINK_SVC_VAULT_KEYS": json.dumps({"k1": K1, "k2": K2}),
        "LINK_SVC_VAULT_ACTIVE_KEY_ID": "k2",
        "LINK_SVC_JWT_PUBLIC_KEYS": json.dumps({"t": public_pem(ec.generate_private_key(ec.SECP256R1()))}),
        "PLAID_CLIENT_ID": "c",
        "PLAID_SECRET": "s-0f9c2a51",
        "PLAID_BASE_URL": "http://127.0.0.1:9",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "link_svc.entrypoints.vault_cli", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)

    done = await asyncio.to_thread(cli, "rotate", "--batch-size", "3")
    assert done.returncode == 0, done.stderr
    assert "rotated 7" in done.stdout and K1 not in done.stdout + done.stderr
    status = await asyncio.to_thread(cli, "status")
    assert status.returncode == 0 and status.stdout.split() == ["k2", "7", "configured", "(active)"]
    retired = ring({"k2": K2}, "k2")
    for item, token in tokens.items():
        sealed = await vault.load(pool, item)
        assert sealed is not None and retired.open(item, sealed) == token
    env["LINK_SVC_VAULT_KEYS"] = json.dumps({"k3": K1})
    env["LINK_SVC_VAULT_ACTIVE_KEY_ID"] = "k3"
    refused = await asyncio.to_thread(cli, "rotate")
    assert refused.returncode == 2 and "k2" in refused.stderr
