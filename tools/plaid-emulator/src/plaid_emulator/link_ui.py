"""A stand-in for Plaid Link, which cannot load here: `GET /link?token=<link_token>` serves a minimal page,
`POST /link/complete` takes {link_token, institution_id, username, password} (and, for tests, `item_config`:
the new Item's size and life, see item_config.py) and answers like Link's onSuccess
({public_token, metadata}) or, on failure, like onExit ({error, metadata}) with Plaid's status.

An OAuth institution (ins_127287) needs the redirect round trip: the first call answers {oauth_redirect_url},
the bank's page there sends the user back to the link token's redirect_uri with an oauth_state_id, and a
second call {link_token, received_redirect_uri} finishes (Link re-opened with receivedRedirectUri).

In update mode (a link token created with `access_token`) good credentials repair an Item in
ITEM_LOGIN_REQUIRED; no new Item is created, and no LOGIN_REPAIRED is fired (Plaid fires it only for a repair
outside update mode: the app learns of this one from onSuccess).
"""

from __future__ import annotations

import html
import json
import uuid
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Body
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from .data.institutions import SANDBOX
from .errors import PlaidApiError
from .ids import request_id
from .item_config import ItemConfig, ItemConfigError
from .state import Emulator, LinkToken

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Link (Plaid emulator)</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto}}label{{display:block;margin:.6rem 0}}
input,select{{width:100%;padding:.4rem}}pre{{background:#f4f4f4;padding:.6rem;white-space:pre-wrap}}</style>
</head><body>
<h1>{title}</h1>
<p>{client_name} uses this emulator of Plaid Link. Sandbox credentials: <code>user_good</code> /
<code>pass_good</code>, <code>user_transactions_dynamic</code>,
or a password <code>error_&lt;CODE&gt;</code>.</p>
<form id="f">
<label>Institution <select name="institution_id">{options}</select></label>
<label>Username <input name="username" value="user_good"></label>
<label>Password <input name="password" type="password" value="pass_good"></label>
<button type="submit">Continue</button>
</form>
<pre id="out"></pre>
<script>
document.getElementById("f").addEventListener("submit", async (e) => {{
  e.preventDefault();
  const body = Object.fromEntries(new FormData(e.target));
  body.link_token = {token};
  const r = await fetch("/link/complete", {{method: "POST", headers: {{"Content-Type": "application/json"}},
                                            body: JSON.stringify(body)}});
  const data = await r.json();
  if (data.oauth_redirect_url) {{ window.location = data.oauth_redirect_url; return; }}
  document.getElementById("out").textContent = JSON.stringify(data, null, 2);
  if (window.opener) window.opener.postMessage({{source: "plaid-emulator-link", ok: r.ok, data}}, "*");
}});
</script></body></html>"""


def router(emu: Emulator) -> APIRouter:
    api = APIRouter(tags=["link stand-in"])

    @api.get("/link", response_class=HTMLResponse)
    async def page(token: str) -> HTMLResponse:
        try:
            link = emu.link_token(token)
        except PlaidApiError as exc:
            return HTMLResponse(f"<p>{html.escape(exc.message)}</p>", status_code=exc.status)
        item = emu.items.get(link.item_id) if link.item_id else None
        choices = [SANDBOX[item.institution_id]] if item else list(SANDBOX.values())
        options = "".join(
            f'<option value="{i.institution_id}">{html.escape(i.name)}</option>' for i in choices
        )
        title = "Reconnect your bank" if item else "Connect your bank"
        return HTMLResponse(
            _PAGE.format(
                title=title,
                client_name=html.escape(link.client_name),
                options=options,
                token=json.dumps(token),
            )
        )

    @api.get("/link/oauth/authorize")
    async def bank(oauth_state_id: str) -> Response:
        """The bank's consent screen, consented at once: back to the app's redirect_uri."""
        pending = emu.oauth_states.get(oauth_state_id)
        link = emu.link_tokens.get(pending[0]) if pending else None
        if link is None or link.redirect_uri is None:
            return HTMLResponse("<p>unknown or expired OAuth session</p>", status_code=400)
        query = urlencode({"oauth_state_id": oauth_state_id})
        return RedirectResponse(f"{link.redirect_uri}?{query}", status_code=302)

    @api.post("/link/complete")
    async def complete(body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        session = f"{uuid.uuid4()}"
        try:
            return JSONResponse(_complete(emu, body, session))
        except PlaidApiError as exc:
            error = exc.body(request_id())
            return JSONResponse(
                {
                    "error": error,
                    "metadata": {
                        "link_session_id": session,
                        "status": "requires_credentials",
                        "request_id": error["request_id"],
                    },
                },
                status_code=exc.status,
            )

    return api


def _complete(emu: Emulator, body: dict[str, Any], session: str) -> dict[str, Any]:
    link = emu.link_token(body.get("link_token"))
    if body.get("received_redirect_uri"):  # back from the bank: Link re-opened with receivedRedirectUri
        body = _resume_oauth(emu, link, str(body["received_redirect_uri"]))
    else:
        item = emu.items.get(link.item_id) if link.item_id else None
        institution = SANDBOX.get(item.institution_id if item else str(body.get("institution_id") or ""))
        if institution is not None and institution.oauth:
            return _start_oauth(emu, link, body)
    username = str(body.get("username") or "")
    password = str(body.get("password") or "")
    config = _item_config(body, update_mode=bool(link.item_id))
    if link.item_id:  # update mode
        item = emu.item_by_id(link.item_id)
        if password.startswith("error_") or not (
            username == "user_transactions_dynamic" or (username, password) == ("user_good", "pass_good")
        ):
            raise PlaidApiError(
                password.removeprefix("error_") if password.startswith("error_") else "INVALID_CREDENTIALS"
            )
        emu.life.repair(item, in_update_mode=True)
        if link.account_selection:  # the user shares the accounts opened since (the stand-in selects all)
            item.accounts.extend(item.new_accounts)
            item.new_accounts.clear()
    else:
        if link.used:
            raise PlaidApiError("INVALID_LINK_TOKEN")
        item = emu.create_item(
            str(body.get("institution_id") or ""),
            link.products,
            link.webhook,
            link.days_requested,
            username,
            password,
        )
        link.used = True
        try:
            config.apply(emu, item)
        except ItemConfigError as exc:  # not reached: a new Item's data has not started
            raise PlaidApiError("INVALID_FIELD", str(exc)) from None
    chosen = SANDBOX[item.institution_id]
    return {
        "public_token": emu.issue_public_token(item),
        "metadata": {
            "institution": {"name": chosen.name, "institution_id": chosen.institution_id},
            "accounts": [a.link_metadata() for a in item.accounts],
            "link_session_id": session,
            "transfer_status": None,
        },
    }


def _item_config(body: dict[str, Any], *, update_mode: bool) -> ItemConfig:
    """`item_config` (the stand-in's, not Link's): the new Item's size and life, set as it is created."""
    raw = body.get("item_config")
    if raw is None:
        return ItemConfig()
    if update_mode:
        raise PlaidApiError("INVALID_FIELD", "item_config applies to a new Item, not to update mode")
    if not isinstance(raw, dict):
        raise PlaidApiError("INVALID_FIELD", "item_config must be an object")
    try:
        return ItemConfig.parse(raw, only_known=True)
    except ItemConfigError as exc:
        raise PlaidApiError("INVALID_FIELD", str(exc)) from None


def _start_oauth(emu: Emulator, link: LinkToken, body: dict[str, Any]) -> dict[str, Any]:
    """An OAuth institution: Link sends the user to the bank, which sends them back to the app's
    redirect_uri with an oauth_state_id; the app re-opens Link with that URI to finish."""
    if not link.redirect_uri:
        raise PlaidApiError("INVALID_FIELD", "an OAuth institution needs the link token's redirect_uri")
    state = emu.mint.uuid()
    emu.oauth_states[state] = (link.token, dict(body))
    return {"oauth_redirect_url": f"/link/oauth/authorize?{urlencode({'oauth_state_id': state})}"}


def _resume_oauth(emu: Emulator, link: LinkToken, received: str) -> dict[str, Any]:
    expected, got = urlsplit(link.redirect_uri or ""), urlsplit(received)
    state = parse_qs(got.query).get("oauth_state_id", [""])[0]
    pending = emu.oauth_states.get(state)
    if (got.scheme, got.netloc, got.path) != (expected.scheme, expected.netloc, expected.path) or (
        pending is None or pending[0] != link.token
    ):
        raise PlaidApiError(
            "INVALID_FIELD", "received_redirect_uri does not match an OAuth session of this link"
        )
    del emu.oauth_states[state]
    return dict(pending[1])
