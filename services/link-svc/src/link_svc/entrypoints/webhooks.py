"""POST /v1/plaid/webhooks: the only door Plaid knocks on. No bearer token: the Plaid signature is the proof.

200 once verified and recorded (a redelivery is also 200: Plaid must stop retrying), 401 otherwise.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..handlers import Deps, ingress

router = APIRouter(tags=["plaid"])

MAX_BODY = 256 * 1024


@router.post(
    "/v1/plaid/webhooks",
    summary="Plaid webhook ingress (verified with the Plaid-Verification JWT)",
    responses={200: {"description": "verified and recorded"}, 401: {"description": "does not verify"}},
)
async def plaid_webhook(request: Request) -> JSONResponse:
    deps: Deps = request.app.state.deps
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return JSONResponse({"error": {"code": "too_large", "message": "webhook body too large"}}, 413)
    fresh = await ingress.receive_webhook(deps, raw, request.headers.get("plaid-verification"))
    return JSONResponse({"status": "received" if fresh else "duplicate"})
