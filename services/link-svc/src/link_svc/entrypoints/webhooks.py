"""POST /v1/plaid/webhooks: the only door Plaid knocks on. No bearer token: the Plaid signature is the proof.

200 once verified and recorded (a replay of a delivery already recorded is also 200), 401 otherwise.
The hottest path of the service, so it is a bare ASGI endpoint on a route placed first in the router: no
request object, no dependency solving, no scan through the other routes, answers pre-encoded
(see bench/bench_link_webhooks.py).
"""

from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from ..domain.errors import WebhookRejected
from ..handlers import Deps, ingress
from .errors import to_response

PATH = "/v1/plaid/webhooks"
MAX_BODY = 256 * 1024
VERIFICATION_HEADER = b"plaid-verification"

_ANSWERS = {True: b'{"status":"received"}', False: b'{"status":"duplicate"}'}


class PlaidWebhookEndpoint:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deps: Deps = scope["app"].state.deps
        raw = await _body(receive)
        if raw is None:
            too_large = {"error": {"code": "too_large", "message": "webhook body too large"}}
            await JSONResponse(too_large, 413)(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == VERIFICATION_HEADER), None)
        try:
            fresh = await ingress.receive_webhook(deps, raw, header)
        except WebhookRejected as exc:
            await to_response(exc)(scope, receive, send)
            return
        body = _ANSWERS[fresh]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes | None:
    """The raw request body (the exact bytes Plaid signed), or None past MAX_BODY."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class WebhookRoute(Route):
    """A Starlette route that names itself in the scope, so metrics and logs see its template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child = {**child, "route": self}
        return match, child


route = WebhookRoute(PATH, PlaidWebhookEndpoint(), methods=["POST"])

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
}
# The bare route is invisible to FastAPI's schema generation; this is its entry in /openapi.json.
OPENAPI_OPERATION: dict[str, Any] = {
    "post": {
        "tags": ["plaid"],
        "summary": "Plaid webhook ingress",
        "operationId": "receive_plaid_webhook",
        "description": (
            "Called by Plaid, not by product teams: no bearer token. The `Plaid-Verification` header (an "
            "ES256 JWT whose `kid` names a key from /webhook_verification_key/get, `iat` within 5 minutes, "
            "`request_body_sha256` equal to the SHA-256 of the exact body) is verified, then the webhook "
            "is published as `bankstream.plaid.webhook.received.v1`. A redelivery of the same body answers "
            "`duplicate` and publishes nothing."
        ),
        "parameters": [
            {"name": "Plaid-Verification", "in": "header", "required": True, "schema": {"type": "string"}}
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["webhook_type", "webhook_code"],
                        "properties": {
                            "webhook_type": {"type": "string"},
                            "webhook_code": {"type": "string"},
                            "item_id": {"type": "string"},
                            "environment": {"type": "string"},
                        },
                        "additionalProperties": True,
                    },
                    "example": {
                        "webhook_type": "TRANSACTIONS",
                        "webhook_code": "SYNC_UPDATES_AVAILABLE",
                        "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb",
                        "initial_update_complete": True,
                        "historical_update_complete": False,
                        "environment": "production",
                    },
                }
            },
        },
        "responses": {
            "200": {
                "description": (
                    "verified; `received` (published) or `duplicate` (this JWT was published already)"
                ),
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"status": {"type": "string", "enum": ["received", "duplicate"]}},
                        },
                        "example": {"status": "received"},
                    }
                },
            },
            "401": {
                "description": "`webhook_rejected`: the signature does not verify (nothing is published)",
                "content": {"application/json": {"schema": _ERROR}},
            },
            "413": {
                "description": f"`too_large`: a body over {MAX_BODY // 1024} KiB",
                "content": {"application/json": {"schema": _ERROR}},
            },
            "500": {
                "description": "`internal_error`: verified but not recorded (PostgreSQL away); Plaid retries",
                "content": {"application/json": {"schema": _ERROR}},
            },
        },
    }
}
