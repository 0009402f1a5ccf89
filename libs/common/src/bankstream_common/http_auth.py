"""The bearer-token door of every service's API: a FastAPI dependency for the caller, and the two refusals.

app.state.authenticator = authenticator_from(settings)
    install_auth_errors(app, on_failure)   # NotAuthenticated -> 401, NotAllowed -> 403

@router.get("/v1/things")
async def things(who: Caller) -> ...:          # who: a verified Principal
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from starlette.responses import Response

from .auth import Authenticator, AuthError, NotAuthenticated, Principal
from .http_errors import error_response

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    403: {"description": "the token lacks the scope"},
}


async def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """On the event loop (a sync dependency costs a thread hop per request): a token seen before is
    answered from the authenticator's memory, a new one is verified here (one signature check)."""
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.authenticate(authorization)


Caller = Annotated[Principal, Depends(caller)]


def install_auth_errors(app: FastAPI, on_failure: Callable[[str], None] | None = None) -> None:
    """Map the shared refusals to 401/403 in the shared error shape; `on_failure(outcome)` counts them."""

    async def handle(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthError)
        outcome = "unauthenticated" if isinstance(exc, NotAuthenticated) else "forbidden"
        if on_failure is not None:
            on_failure(outcome)
        if outcome == "unauthenticated":
            response = error_response(401, "unauthenticated", str(exc))
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return error_response(403, "forbidden", str(exc))

    app.add_exception_handler(AuthError, handle)
