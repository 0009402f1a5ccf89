"""The whole journey driven through plaid-python only (plus the Link stand-in, which stands where a browser
would be, and a webhook receiver): Link, exchange, sync, refresh, pending to posted, reset_login, update mode
(no LOGIN_REPAIRED), a repair outside update mode (LOGIN_REPAIRED). The synced state must equal the
emulator's ground truth."""

from __future__ import annotations

import json
from typing import Any

import plaid
import pytest
from plaid.model.country_code import CountryCode
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.link_token_transactions import LinkTokenTransactions
from plaid.model.products import Products
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.transactions_refresh_request import TransactionsRefreshRequest
from plaid.model.transactions_sync_request import TransactionsSyncRequest


def sync_all(
    client: Any, access: str, cursor: str, store: dict[str, Any], count: int = 100
) -> tuple[str, list[Any]]:
    """Plaid's documented loop: page until has_more is false; on a mutation restart from the loop's cursor."""
    pages = []
    start = cursor
    while True:
        try:
            page = client.transactions_sync(
                TransactionsSyncRequest(access_token=access, cursor=cursor, count=count)
            )
        except plaid.ApiException as exc:
            if json.loads(exc.body)["error_code"] == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION":
                cursor, pages = start, []
                continue
            raise
        pages.append(page)
        cursor = page.next_cursor
        if not page.has_more:
            break
    for page in pages:
        for txn in [*page.added, *page.modified]:
            store[txn.transaction_id] = txn
        for gone in page.removed:
            store.pop(gone.transaction_id, None)
    return cursor, pages


def link(
    emu: Any,
    link_token: str,
    username: str = "user_good",
    password: str = "pass_good",  # noqa: S107
) -> dict[str, Any]:
    response = emu.http.post(
        "/link/complete",
        json={
            "link_token": link_token,
            "institution_id": "ins_109508",
            "username": username,
            "password": password,
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def assert_matches_truth(emu: Any, item_id: str, store: dict[str, Any]) -> None:
    truth = emu.ground_truth(item_id)
    expected = {t["transaction_id"]: (t["amount"], t["pending"], t["date"]) for t in truth["transactions"]}
    got = {tid: (t.amount, t.pending, t.date.isoformat()) for tid, t in store.items()}
    assert got == expected


def test_sdk_only_journey(emu: Any, client: Any, receiver: Any) -> None:
    user = LinkTokenCreateRequestUser(client_user_id="user-42")
    created = client.link_token_create(
        LinkTokenCreateRequest(
            client_name="bankstream",
            language="en",
            country_codes=[CountryCode("US")],
            user=user,
            products=[Products("transactions")],
            webhook=receiver.url,
            transactions=LinkTokenTransactions(days_requested=60),
        )
    )
    success = link(emu, created.link_token, username="user_transactions_dynamic")
    metadata = success["metadata"]
    assert metadata["institution"] == {"name": "First Platypus Bank", "institution_id": "ins_109508"}
    assert [a["subtype"] for a in metadata["accounts"]] == ["checking", "savings", "credit card"]
    assert all(len(a["mask"]) == 4 for a in metadata["accounts"])

    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=success["public_token"])
    )
    access, item_id = exchanged.access_token, exchanged.item_id
    store: dict[str, Any] = {}
    cursor, pages = sync_all(client, access, "", store)
    assert store and all(len(tid) == 37 for tid in store)
    assert len(pages) > 1  # 60 days at 4 a day need several pages of 100
    assert_matches_truth(emu, item_id, store)
    pending_before = {tid for tid, t in store.items() if t.pending}
    assert pending_before

    client.transactions_refresh(TransactionsRefreshRequest(access_token=access))
    _, body, _ = receiver.wait_for("SYNC_UPDATES_AVAILABLE")
    assert body["item_id"] == item_id and body["historical_update_complete"] is True
    cursor, pages = sync_all(client, access, cursor, store, count=3)
    removed = {r.transaction_id for p in pages for r in p.removed}
    posted = {t.pending_transaction_id: t for p in pages for t in p.added if t.pending_transaction_id}
    assert pending_before <= removed
    assert pending_before <= posted.keys()
    assert all(not t.pending and t.authorized_date is not None for t in posted.values())
    assert any(p.modified for p in pages)  # an amount changed
    assert_matches_truth(emu, item_id, store)

    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=access))
    _, body, _ = receiver.wait_for("ERROR")
    assert body["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"
    with pytest.raises(plaid.ApiException) as caught:
        client.transactions_sync(TransactionsSyncRequest(access_token=access, cursor=cursor))
    assert json.loads(caught.value.body)["error_code"] == "ITEM_LOGIN_REQUIRED"

    update = client.link_token_create(
        LinkTokenCreateRequest(
            client_name="bankstream",
            language="en",
            country_codes=[CountryCode("US")],
            user=user,
            access_token=access,
        )
    )
    # update mode: onSuccess is how the app learns of the repair; it syncs at once, waiting for nothing
    link(emu, update.link_token, username="user_transactions_dynamic")
    cursor, _ = sync_all(client, access, cursor, store)
    assert_matches_truth(emu, item_id, store)
    # Plaid fires LOGIN_REPAIRED only for a repair outside update mode: none came for this one
    client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(access_token=access, webhook_code="NEW_ACCOUNTS_AVAILABLE")
    )
    codes = []
    while "NEW_ACCOUNTS_AVAILABLE" not in codes:
        codes.append(json.loads(receiver.next()[1])["webhook_code"])
    assert "LOGIN_REPAIRED" not in codes
    assert "LOGIN_REPAIRED" not in {a["webhook_code"] for a in emu.webhook_attempts()}

    # the bank recovers by itself (the control API's repair): that one fires LOGIN_REPAIRED
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=access))
    receiver.wait_for("ERROR")
    emu.set_item_error(item_id, None)
    _, body, _ = receiver.wait_for("LOGIN_REPAIRED")
    assert body["item_id"] == item_id
    cursor, _ = sync_all(client, access, cursor, store)
    assert_matches_truth(emu, item_id, store)


def test_link_stand_in_reports_error_passwords_like_link_on_exit(emu: Any, client: Any) -> None:
    created = client.link_token_create(
        LinkTokenCreateRequest(
            client_name="bankstream",
            language="en",
            country_codes=[CountryCode("US")],
            user=LinkTokenCreateRequestUser(client_user_id="u"),
            products=[Products("transactions")],
        )
    )
    page = emu.http.get("/link", params={"token": created.link_token})
    assert page.status_code == 200 and "First Platypus Bank" in page.text
    failed = emu.http.post(
        "/link/complete",
        json={
            "link_token": created.link_token,
            "institution_id": "ins_109508",
            "username": "user_good",
            "password": "error_ITEM_LOCKED",
        },
    )
    assert failed.status_code == 400
    assert failed.json()["error"]["error_code"] == "ITEM_LOCKED"


def test_a_new_account_is_shared_through_update_mode_with_account_selection(
    emu: Any, client: Any, receiver: Any
) -> None:
    """NEW_ACCOUNTS_AVAILABLE says the bank has an account the app was not given; it appears in
    /accounts/get only after update mode with account selection (Link's onSuccess lists it too)."""
    from plaid.model.accounts_get_request import AccountsGetRequest
    from plaid.model.link_token_create_request_update import LinkTokenCreateRequestUpdate

    user = LinkTokenCreateRequestUser(client_user_id="user-7")
    created = client.link_token_create(
        LinkTokenCreateRequest(
            client_name="bankstream",
            language="en",
            country_codes=[CountryCode("US")],
            user=user,
            products=[Products("transactions")],
            webhook=receiver.url,
        )
    )
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=link(emu, created.link_token)["public_token"])
    )
    access = exchanged.access_token

    def account_subtypes() -> list[str]:
        return [str(a.subtype) for a in client.accounts_get(AccountsGetRequest(access_token=access)).accounts]

    assert account_subtypes() == ["checking", "savings", "credit card"]
    client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(access_token=access, webhook_code="NEW_ACCOUNTS_AVAILABLE")
    )
    assert receiver.wait_for("NEW_ACCOUNTS_AVAILABLE")[1]["item_id"] == exchanged.item_id
    assert len(account_subtypes()) == 3  # not shared yet

    def update_mode(**extra: Any) -> dict[str, Any]:
        token = client.link_token_create(
            LinkTokenCreateRequest(
                client_name="bankstream",
                language="en",
                country_codes=[CountryCode("US")],
                user=user,
                access_token=access,
                **extra,
            )
        ).link_token
        return link(emu, token)

    update_mode()  # plain update mode: no account selection, nothing new shared
    assert len(account_subtypes()) == 3
    success = update_mode(update=LinkTokenCreateRequestUpdate(account_selection_enabled=True))
    assert [a["subtype"] for a in success["metadata"]["accounts"]][-1] == "money market"
    assert account_subtypes() == ["checking", "savings", "credit card", "money market"]


def test_an_oauth_institution_needs_the_redirect_round_trip(emu: Any, client: Any) -> None:
    """As a web client would: Link sends the user to the bank; the bank sends them back to the redirect_uri
    with an oauth_state_id; Link, re-opened with that URI, answers onSuccess. No redirect_uri, no OAuth."""

    def link_token(**extra: Any) -> str:
        return str(
            client.link_token_create(
                LinkTokenCreateRequest(
                    client_name="bankstream",
                    language="en",
                    country_codes=[CountryCode("US")],
                    user=LinkTokenCreateRequestUser(client_user_id="user-oauth"),
                    products=[Products("transactions")],
                    **extra,
                )
            ).link_token
        )

    choose = {"institution_id": "ins_127287", "username": "user_good", "password": "pass_good"}
    refused = emu.http.post("/link/complete", json={"link_token": link_token(), **choose})
    assert refused.status_code == 400 and "redirect_uri" in refused.json()["error"]["error_message"]

    token = link_token(redirect_uri="https://app.example/oauth-return")
    started = emu.http.post("/link/complete", json={"link_token": token, **choose})
    assert started.status_code == 200 and "public_token" not in started.json()
    bank = emu.http.get(started.json()["oauth_redirect_url"], follow_redirects=False)
    assert bank.status_code == 302
    back = bank.headers["location"]
    assert back.startswith("https://app.example/oauth-return?oauth_state_id=")
    forged = back.replace("oauth_state_id=", "oauth_state_id=x")
    assert (
        emu.http.post(
            "/link/complete", json={"link_token": token, "received_redirect_uri": forged}
        ).status_code
        == 400
    )
    success = emu.http.post("/link/complete", json={"link_token": token, "received_redirect_uri": back})
    assert success.status_code == 200, success.text
    assert success.json()["metadata"]["institution"]["institution_id"] == "ins_127287"
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=success.json()["public_token"])
    )
    assert exchanged.item_id
    again = emu.http.post("/link/complete", json={"link_token": token, "received_redirect_uri": back})
    assert again.status_code == 400  # a state is used once
