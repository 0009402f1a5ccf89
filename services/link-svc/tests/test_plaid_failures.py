"""Plaid failing: translated at the boundary, answered with the right status, audited, and an exchange
that cannot be stored leaves no live Item behind at Plaid."""

import pytest

from .harness import LinkService, exchange

pytestmark = pytest.mark.integration


async def test_a_plaid_outage_is_a_503_with_plaids_code_audited_and_counted(svc: LinkService) -> None:
    svc.emu.set_fault(error_code="INTERNAL_SERVER_ERROR", endpoint="/link/token/create", count=1)
    try:
        answer = await svc.call("POST", "/v1/link-tokens", svc.token("kim"), json={})
    finally:
        svc.emu.clear_faults()
    assert answer.status_code == 503 and answer.headers["retry-after"]
    error = answer.json()["error"]
    assert (error["code"], error["plaid_error_code"]) == ("plaid_unavailable", "INTERNAL_SERVER_ERROR")
    row = await svc.pool.fetchrow("SELECT * FROM plaid_calls WHERE endpoint = '/link/token/create'")
    assert (row["http_status"], row["error_code"]) == (500, "INTERNAL_SERVER_ERROR")
    assert row["request_id"] == error["plaid_request_id"] and row["latency_ms"] > 0
    metrics = (await svc.call("GET", "/metrics")).text
    assert (
        'link_svc_plaid_calls_total{endpoint="/link/token/create",error_code="INTERNAL_SERVER_ERROR",'
        'outcome="error"} 1.0' in metrics
    )


async def test_an_invalid_public_token_is_a_400_naming_plaids_code(svc: LinkService) -> None:
    lee = svc.token("lee")
    success = await svc.link_via_emulator(lee)
    success["public_token"] = "public-sandbox-00000000-0000-4000-8000-000000000000"
    code, body = await exchange(svc, lee, success)
    assert code == 400 and body["error"]["plaid_error_code"] == "INVALID_PUBLIC_TOKEN"
    assert await svc.pool.fetchval("SELECT count(*) FROM items") == 0


async def test_an_exchange_that_cannot_be_completed_is_undone_at_plaid(svc: LinkService) -> None:
    max_ = svc.token("max")
    success = await svc.link_via_emulator(max_)
    svc.emu.set_fault(error_code="INTERNAL_SERVER_ERROR", endpoint="/accounts/get", count=1)
    try:
        code, body = await exchange(svc, max_, success)
    finally:
        svc.emu.clear_faults()
    assert code == 503, body
    assert await svc.pool.fetchval("SELECT count(*) FROM items") == 0
    assert await svc.pool.fetchval("SELECT count(*) FROM access_tokens") == 0
    calls = [
        r["endpoint"]
        for r in await svc.pool.fetch("SELECT endpoint FROM plaid_calls ORDER BY id")
        if r["endpoint"] != "/webhook_verification_key/get"  # webhooks of the new Item come in meanwhile
    ]
    assert calls[-3:] == ["/item/public_token/exchange", "/accounts/get", "/item/remove"]
