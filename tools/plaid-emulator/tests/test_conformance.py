"""Every endpoint, success and error: the raw JSON validates against Plaid's official OpenAPI spec, and
plaid-python 46 parses the same kind of response with its return-type checks on."""

from __future__ import annotations

import json
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import plaid
import pytest
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.custom_sandbox_transaction import CustomSandboxTransaction
from plaid.model.institutions_get_by_id_request import InstitutionsGetByIdRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.item_webhook_update_request import ItemWebhookUpdateRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.link_token_transactions import LinkTokenTransactions
from plaid.model.plaid_error import PlaidError
from plaid.model.products import Products
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import SandboxPublicTokenCreateRequestOptions
from plaid.model.sandbox_transactions_create_request import SandboxTransactionsCreateRequest
from plaid.model.transactions_get_request import TransactionsGetRequest
from plaid.model.transactions_get_request_options import TransactionsGetRequestOptions
from plaid.model.transactions_refresh_request import TransactionsRefreshRequest
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.transactions_sync_request_options import TransactionsSyncRequestOptions
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

ENDPOINTS = [
    "/link/token/create",
    "/item/public_token/exchange",
    "/sandbox/public_token/create",
    "/item/get",
    "/item/remove",
    "/item/webhook/update",
    "/accounts/get",
    "/accounts/balance/get",
    "/transactions/sync",
    "/transactions/get",
    "/transactions/refresh",
    "/sandbox/item/fire_webhook",
    "/sandbox/item/reset_login",
    "/sandbox/transactions/create",
    "/webhook_verification_key/get",
    "/institutions/get_by_id",
]


def sdk_error(client: Any, call: Any) -> Any:
    """Run an SDK call that must fail; parse its body as the SDK's PlaidError with type checks on."""
    with pytest.raises(plaid.ApiException) as caught:
        call()
    response = SimpleNamespace(data=caught.value.body)
    error = client.api_client.deserialize(response, (PlaidError,), True)
    return caught.value.status, error


class Raw:
    def __init__(self, emu: Any, checker: Any) -> None:
        self.emu, self.checker = emu, checker

    def ok(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.emu.plaid(path, body)
        assert response.status_code == 200, response.text
        return self.checker.check(path, body, 200, response.content)

    def error(self, path: str, body: dict[str, Any], status: int, code: str) -> dict[str, Any]:
        response = self.emu.plaid(path, body)
        assert response.status_code == status, response.text
        out = self.checker.check(path, body, status, response.content)
        assert out["error_code"] == code
        assert len(out["request_id"]) == 15
        return out


def new_item(raw: Raw, **options: Any) -> tuple[str, str]:
    token = raw.ok(
        "/sandbox/public_token/create",
        {"institution_id": "ins_109508", "initial_products": ["transactions"], "options": options},
    )
    exchanged = raw.ok("/item/public_token/exchange", {"public_token": token["public_token"]})
    return exchanged["access_token"], exchanged["item_id"]


def test_every_endpoint_success_and_error_conform_to_spec(emu: Any, checker: Any) -> None:
    raw = Raw(emu, checker)
    access, item_id = new_item(raw, webhook="http://127.0.0.1:9/none")
    acct = raw.ok("/accounts/get", {"access_token": access})["accounts"][0]["account_id"]

    raw.ok(
        "/link/token/create",
        {
            "client_name": "bankstream",
            "language": "en",
            "country_codes": ["US"],
            "user": {"client_user_id": "u1"},
            "products": ["transactions"],
            "webhook": "https://example.com/hook",
            "redirect_uri": "https://example.com/oauth",
            "transactions": {"days_requested": 730},
        },
    )
    raw.ok(
        "/link/token/create",
        {
            "client_name": "bankstream",
            "language": "en",
            "country_codes": ["US"],
            "user": {"client_user_id": "u1"},
            "access_token": access,
        },
    )
    raw.error(
        "/link/token/create",
        {
            "client_name": "x",
            "language": "en",
            "country_codes": ["US"],
            "user": {"client_user_id": "u"},
            "products": ["transactions"],
            "transactions": {"days_requested": 731},
        },
        400,
        "INVALID_FIELD",
    )
    raw.error("/link/token/create", {"language": "en"}, 400, "MISSING_FIELDS")
    raw.error(
        "/item/public_token/exchange", {"public_token": "public-sandbox-nope"}, 400, "INVALID_PUBLIC_TOKEN"
    )
    raw.error(
        "/sandbox/public_token/create",
        {
            "institution_id": "ins_109508",
            "initial_products": ["transactions"],
            "options": {"override_password": "error_INVALID_CREDENTIALS"},
        },
        400,
        "INVALID_CREDENTIALS",
    )
    raw.error(
        "/sandbox/public_token/create",
        {"institution_id": "ins_132361", "initial_products": ["transactions"]},
        400,
        "INSTITUTION_DOWN",
    )

    item = raw.ok("/item/get", {"access_token": access})
    assert item["item"]["item_id"] == item_id
    bad_keys = emu.http.post(
        "/item/get", json={"access_token": access, "client_id": emu.client_id, "secret": "wrong"}
    )
    assert (
        checker.check("/item/get", {}, bad_keys.status_code, bad_keys.content)["error_code"]
        == "INVALID_API_KEYS"
    )
    raw.error(
        "/item/get",
        {"access_token": "access-sandbox-00000000-0000-4000-8000-000000000000"},
        400,
        "INVALID_ACCESS_TOKEN",
    )
    raw.ok("/item/webhook/update", {"access_token": access, "webhook": "http://127.0.0.1:9/other"})
    raw.error("/item/webhook/update", {"access_token": access, "webhook": 7}, 400, "INVALID_FIELD")

    raw.ok("/accounts/balance/get", {"access_token": access, "options": {"account_ids": [acct]}})
    raw.error(
        "/accounts/balance/get",
        {"access_token": access, "options": {"account_ids": ["nope"]}},
        400,
        "INVALID_ACCOUNT_ID",
    )

    page = raw.ok(
        "/transactions/sync",
        {
            "access_token": access,
            "count": 500,
            "options": {"include_original_description": True, "personal_finance_category_version": "v1"},
        },
    )
    assert page["added"] and page["added"][0]["original_description"]
    raw.error("/transactions/sync", {"access_token": access, "count": 501}, 400, "INVALID_FIELD")
    raw.error("/transactions/sync", {"access_token": access, "cursor": "not-a-cursor!"}, 400, "INVALID_FIELD")
    today = date.today()
    raw.ok(
        "/transactions/get",
        {
            "access_token": access,
            "start_date": str(today - timedelta(days=30)),
            "end_date": str(today + timedelta(days=1)),
            "options": {"count": 50, "offset": 5},
        },
    )
    raw.error(
        "/transactions/get",
        {"access_token": access, "start_date": "2024-13-01", "end_date": "2024-01-01"},
        400,
        "INVALID_FIELD",
    )
    raw.ok("/transactions/refresh", {"access_token": access})
    raw.ok(
        "/sandbox/transactions/create",
        {
            "access_token": access,
            "transactions": [
                {
                    "date_transacted": str(today),
                    "date_posted": str(today),
                    "amount": 12.5,
                    "description": "CUSTOM TXN",
                }
            ],
        },
    )
    raw.error(
        "/sandbox/transactions/create",
        {
            "access_token": access,
            "transactions": [
                {
                    "date_transacted": "2001-01-01",
                    "date_posted": "2001-01-01",
                    "amount": 1,
                    "description": "old",
                }
            ],
        },
        400,
        "INVALID_FIELD",
    )
    raw.ok("/sandbox/item/fire_webhook", {"access_token": access, "webhook_code": "DEFAULT_UPDATE"})
    raw.error(
        "/sandbox/item/fire_webhook", {"access_token": access, "webhook_code": "NOPE"}, 400, "INVALID_FIELD"
    )
    key = raw.ok(
        "/webhook_verification_key/get",
        {"key_id": emu.control("POST", "/webhook_keys/rotate")["expired_kid"]},
    )
    assert key["key"]["expired_at"] is not None
    raw.error(
        "/webhook_verification_key/get", {"key_id": "unknown"}, 400, "INVALID_WEBHOOK_VERIFICATION_KEY_ID"
    )
    inst = raw.ok(
        "/institutions/get_by_id",
        {
            "institution_id": "ins_109508",
            "country_codes": ["US"],
            "options": {"include_optional_metadata": True},
        },
    )
    assert inst["institution"]["name"] == "First Platypus Bank"
    raw.error(
        "/institutions/get_by_id",
        {"institution_id": "ins_0", "country_codes": ["US"]},
        400,
        "INVALID_INSTITUTION",
    )

    # Item-state and platform errors, on the endpoints a pipeline calls.
    raw.ok("/sandbox/item/reset_login", {"access_token": access})
    for path in ("/transactions/sync", "/accounts/get", "/accounts/balance/get", "/transactions/refresh"):
        raw.error(path, {"access_token": access}, 400, "ITEM_LOGIN_REQUIRED")
    raw.error(
        "/transactions/get",
        {"access_token": access, "start_date": "2024-01-01", "end_date": "2024-01-02"},
        400,
        "ITEM_LOGIN_REQUIRED",
    )
    raw.error("/sandbox/item/reset_login", {"access_token": "bad"}, 400, "INVALID_ACCESS_TOKEN")
    fresh, _ = new_item(raw)
    for code, status in (
        ("INSTITUTION_DOWN", 400),
        ("INTERNAL_SERVER_ERROR", 500),
        ("PLANNED_MAINTENANCE", 503),
        ("TRANSACTIONS_SYNC_LIMIT", 429),
        ("INSTITUTION_NOT_RESPONDING", 400),
    ):
        emu.set_fault(error_code=code, endpoint="/transactions/sync", count=1)
        raw.error("/transactions/sync", {"access_token": fresh}, status, code)
    raw.ok("/item/remove", {"access_token": fresh})
    raw.error("/item/remove", {"access_token": fresh}, 400, "INVALID_ACCESS_TOKEN")
    raw.error("/accounts/get", {"access_token": fresh}, 400, "INVALID_ACCESS_TOKEN")

    missing = {(p, kind) for p in ENDPOINTS for kind in ("success", "error")} - checker.covered
    assert not missing


def test_plaid_python_parses_every_endpoint_with_type_checks(emu: Any, client: Any) -> None:
    today = date.today()
    products = [Products("transactions")]
    public = client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id="ins_109509",
            initial_products=products,
            options=SandboxPublicTokenCreateRequestOptions(webhook="http://127.0.0.1:9/none"),
        )
    )
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public.public_token)
    )
    access = exchanged.access_token
    assert access.startswith("access-sandbox-") and len(exchanged.item_id) == 37

    link = client.link_token_create(
        LinkTokenCreateRequest(
            client_name="bankstream",
            language="en",
            country_codes=[CountryCode("US")],
            user=LinkTokenCreateRequestUser(client_user_id="user-1"),
            products=products,
            webhook="https://example.com/hook",
            redirect_uri="https://example.com/oauth",
            transactions=LinkTokenTransactions(days_requested=120),
        )
    )
    assert link.link_token.startswith("link-sandbox-")
    update = client.link_token_create(
        LinkTokenCreateRequest(
            client_name="bankstream",
            language="en",
            country_codes=[CountryCode("US")],
            user=LinkTokenCreateRequestUser(client_user_id="user-1"),
            access_token=access,
        )
    )
    assert update.expiration > link.expiration - timedelta(hours=4)

    item = client.item_get(ItemGetRequest(access_token=access))
    assert item.item.institution_id == "ins_109509"
    assert client.item_webhook_update(
        ItemWebhookUpdateRequest(access_token=access, webhook="http://127.0.0.1:9/x")
    ).item.webhook
    accounts = client.accounts_get(AccountsGetRequest(access_token=access)).accounts
    assert {str(a.subtype) for a in accounts} == {"checking", "savings", "credit card"}
    assert all(len(a.mask) == 4 for a in accounts)
    balances = client.accounts_balance_get(AccountsBalanceGetRequest(access_token=access)).accounts
    assert balances[2].balances.limit is not None

    page = client.transactions_sync(
        TransactionsSyncRequest(
            access_token=access,
            count=500,
            options=TransactionsSyncRequestOptions(include_original_description=True),
        )
    )
    assert page.added and page.added[0].personal_finance_category.confidence_level
    got = client.transactions_get(
        TransactionsGetRequest(
            access_token=access,
            start_date=today - timedelta(days=90),
            end_date=today,
            options=TransactionsGetRequestOptions(count=10),
        )
    )
    assert got.total_transactions >= len(got.transactions) == 10
    client.transactions_refresh(TransactionsRefreshRequest(access_token=access))
    client.sandbox_transactions_create(
        SandboxTransactionsCreateRequest(
            access_token=access,
            transactions=[
                CustomSandboxTransaction(
                    date_transacted=today, date_posted=today, amount=9.99, description="CUSTOM"
                )
            ],
        )
    )
    assert client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(access_token=access, webhook_code="NEW_ACCOUNTS_AVAILABLE")
    ).webhook_fired
    kid = emu.control("POST", "/webhook_keys/rotate")["kid"]
    key = client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=kid)).key
    assert key.alg == "ES256" and key.expired_at is None
    institution = client.institutions_get_by_id(
        InstitutionsGetByIdRequest(institution_id="ins_109508", country_codes=[CountryCode("US")])
    ).institution
    assert institution.name == "First Platypus Bank"
    assert client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=access)).reset_login

    # Errors: ApiException with Plaid's status, the body parses as the SDK's PlaidError.
    status, error = sdk_error(
        client, lambda: client.transactions_sync(TransactionsSyncRequest(access_token=access))
    )
    assert (status, error.error_type.value, error.error_code) == (400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
    status, error = sdk_error(
        client,
        lambda: client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public.public_token)
        ),
    )
    assert error.error_code == "INVALID_PUBLIC_TOKEN"
    emu.set_fault(error_code="TRANSACTIONS_SYNC_LIMIT", endpoint="/transactions/sync", count=1)
    status, error = sdk_error(
        client, lambda: client.transactions_sync(TransactionsSyncRequest(access_token=access))
    )
    assert (status, error.error_type.value) == (429, "RATE_LIMIT_EXCEEDED")
    client.item_remove(ItemRemoveRequest(access_token=access))
    status, error = sdk_error(client, lambda: client.item_get(ItemGetRequest(access_token=access)))
    assert error.error_code == "INVALID_ACCESS_TOKEN"
    wrong = plaid_api_with_secret(emu, "wrong")
    status, error = sdk_error(
        client,
        lambda: wrong.institutions_get_by_id(
            InstitutionsGetByIdRequest(institution_id="ins_109508", country_codes=[CountryCode("US")])
        ),
    )
    assert (status, error.error_code) == (400, "INVALID_API_KEYS")
    assert json.loads(json.dumps(error.to_dict()))["error_message"]


def plaid_api_with_secret(emu: Any, secret: str) -> Any:
    from plaid.api import plaid_api

    configuration = plaid.Configuration(host=emu.url, api_key={"clientId": emu.client_id, "secret": secret})
    return plaid_api.PlaidApi(plaid.ApiClient(configuration))


def test_a_missing_required_field_is_missing_fields_before_any_lookup(
    emu: Any, checker: Any, spec_dict: dict[str, Any]
) -> None:
    """Plaid checks the request's required fields first: no access_token is INVALID_REQUEST/MISSING_FIELDS
    naming it, never INVALID_ACCESS_TOKEN; so for every endpoint and every field its schema requires."""
    access, _ = new_item(Raw(emu, checker))
    schemas = spec_dict["components"]["schemas"]
    for path in ENDPOINTS:
        ref = spec_dict["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        required = [f for f in schemas[ref.split("/")[-1]]["required"] if f not in ("client_id", "secret")]
        assert required, path
        for field in required:
            # every other required field present (an access_token that exists), this one left out
            body = {f: ({"access_token": access}.get(f) or "x") for f in required if f != field}
            response = emu.plaid(path, body)
            out = checker.check(path, body, response.status_code, response.content)
            assert (response.status_code, out["error_type"], out["error_code"]) == (
                400,
                "INVALID_REQUEST",
                "MISSING_FIELDS",
            ), (path, field, out)
            assert out["error_message"].startswith("the following required fields are missing: ")
            assert field in out["error_message"].removeprefix("the following required fields are missing: ")
        response = emu.plaid(path, {})
        out = checker.check(path, {}, response.status_code, response.content)
        named = out["error_message"].removeprefix("the following required fields are missing: ").split(", ")
        assert set(required) <= set(named), (path, out)


def test_datetime_comes_from_select_institutions_and_parses(emu: Any, client: Any, checker: Any) -> None:
    """`datetime`/`authorized_datetime` are "returned for select financial institutions" (possibly with a
    default time of day): Tartan Bank gives them, First Platypus Bank does not; both parse and validate."""
    raw = Raw(emu, checker)
    for institution, has_times in (("ins_109511", True), ("ins_109508", False)):
        public = client.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(
                institution_id=institution, initial_products=[Products("transactions")]
            )
        )
        access = client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public.public_token)
        ).access_token
        page = client.transactions_sync(TransactionsSyncRequest(access_token=access, count=100))
        assert page.added
        for txn in page.added:
            if has_times:
                assert txn.datetime.date() == txn.date and txn.datetime.tzinfo is not None
                assert (txn.authorized_datetime is None) == (txn.authorized_date is None)
            else:
                assert txn.datetime is None and txn.authorized_datetime is None
        raw.ok("/transactions/sync", {"access_token": access, "count": 500})
