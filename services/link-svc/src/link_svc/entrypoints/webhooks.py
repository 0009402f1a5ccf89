"""POST /v1/plaid/webhooks: the only door Plaid knocks on. No bearer token: the Plaid signature is the proof.

200 once verified and recorded (a redelivery is also 200: Plaid must stop retrying), 401 otherwise.
The route is a plain Starlette route placed first in the router: the hottest path of the service skips
FastAPI's dependency solving and the scan through every other route (see bench/bench_link_webhooks.py).
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from ..domain.errors import WebhookRejected
from ..handlers import Deps, ingress
from .errors import to_response

PATH = "/v1/plaid/webhooks"
MAX_BODY = 256 * 1024


async def plaid_webhook(request: Request) -> Response:
    deps: Deps = request.app.state.deps
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return JSONResponse({"error": {"code": "too_large", "message": "webhook body too large"}}, 413)
    try:
        fresh = await ingress.receive_webhook(deps, raw, request.headers.get("plaid-verification"))
    except WebhookRejected as exc:
        return to_response(exc)
    return JSONResponse({"status": "received" if fresh else "duplicate"})


class WebhookRoute(Route):
    """A Starlette route that names itself in the scope, so metrics and logs see its template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child = {**child, "route": self}
        return match, child


route = WebhookRoute(PATH, plaid_webhook, methods=["POST"])
