"""A Link-created Item's size and life are set when it is created (`item_config` on the Link stand-in), since
the control API's per-Item config is refused once its data starts, about `not_ready_delay` after creation."""

from __future__ import annotations

import time
from typing import Any

from plaid_emulator.testing import RunningEmulator, running_emulator


def link_token(emu: RunningEmulator) -> str:
    answer = emu.plaid(
        "/link/token/create",
        {
            "client_name": "tests",
            "language": "en",
            "country_codes": ["US"],
            "user": {"client_user_id": "u1"},
            "products": ["transactions"],
        },
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["link_token"])


def complete(emu: RunningEmulator, token: str, **extra: Any) -> Any:
    return emu.http.post(
        "/link/complete",
        json={
            "link_token": token,
            "institution_id": "ins_109508",
            "username": "user_good",
            "password": "pass_good",
            **extra,
        },
    )


def item_of(emu: RunningEmulator, public_token: str) -> str:
    exchanged = emu.plaid("/item/public_token/exchange", {"public_token": public_token})
    assert exchanged.status_code == 200, exchanged.text
    return str(exchanged.json()["item_id"])


def test_link_creates_the_item_with_its_size_currency_and_readiness() -> None:
    with running_emulator(not_ready_delay=0.05, historical_delay=0.05) as emu:
        done = complete(
            emu, link_token(emu), item_config={"transactions": 1234, "currency": "eur", "ready": True}
        )
        assert done.status_code == 200, done.text
        item_id = item_of(emu, done.json()["public_token"])
        time.sleep(0.2)  # well past the moment the per-Item config is refused
        refused = emu.http.post(f"/emulator/items/{item_id}/config", json={"transactions": 10})
        assert refused.status_code == 409
        truth = emu.ground_truth(item_id)
        assert truth["transactions_update_status"] == "HISTORICAL_UPDATE_COMPLETE"
        assert len(truth["transactions"]) == 1234
        assert {t["iso_currency_code"] for t in truth["transactions"]} == {"EUR"}


def test_a_bad_item_config_is_refused_and_creates_no_item() -> None:
    with running_emulator() as emu:
        token = link_token(emu)
        for bad in ({"transactions": 0}, {"transactions": "many"}, {"currency": "euro"}, {"size": 3}, [1]):
            refused = complete(emu, token, item_config=bad)
            assert refused.status_code == 400, (bad, refused.text)
            assert refused.json()["error"]["error_code"] == "INVALID_FIELD"
        assert emu.control("GET", "/items") == []
        assert complete(emu, token, item_config={"transactions": 5}).status_code == 200  # token still good
        assert len(emu.control("GET", "/items")) == 1


def test_update_mode_takes_no_item_config() -> None:
    with running_emulator() as emu:
        item = emu.create_item(transactions=10, ready=True)
        update = emu.plaid(
            "/link/token/create",
            {
                "client_name": "tests",
                "language": "en",
                "country_codes": ["US"],
                "user": {"client_user_id": "u1"},
                "access_token": item["access_token"],
            },
        ).json()["link_token"]
        refused = complete(emu, update, item_config={"transactions": 5})
        assert refused.status_code == 400
        assert "update mode" in refused.json()["error"]["error_message"]
