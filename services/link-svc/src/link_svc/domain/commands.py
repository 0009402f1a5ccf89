"""What callers ask link-svc to do, as validated models (the HTTP API's request bodies, with examples).

Link's onSuccess / onExit metadata is read tolerantly (unknown fields ignored): it comes from Plaid's
front-end SDK, whose shape grows. Free-text fields (error messages) are not kept: they are for people
looking at the Link UI, and a bank's message may echo what the user typed.
"""

from typing import Literal

from bankstream_common.http_models import RequestModel
from pydantic import ConfigDict, Field, SecretStr


class _Strict(RequestModel):
    model_config = ConfigDict(extra="forbid")


class _Tolerant(RequestModel):
    model_config = ConfigDict(extra="ignore")


class CreateLinkToken(_Strict):
    user_id: str | None = Field(None, description="only for service tokens: the user the link is for")
    products: list[str] | None = Field(None, description="Plaid products; the configured ones by default")
    days_requested: int | None = Field(None, ge=1, le=730, description="transactions history, 730 by default")
    redirect_uri: str | None = Field(None, description="OAuth redirect URI; the configured one by default")
    account_filters: dict[str, dict[str, list[str]]] | None = Field(
        None, examples=[{"depository": {"account_subtypes": ["checking", "savings"]}}]
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"products": ["transactions"], "days_requested": 730}]},
    )


class CreateUpdateLinkToken(_Strict):
    reason: Literal["login_required", "pending_expiration", "new_accounts"] = Field(
        "login_required", description="new_accounts lets the user pick accounts added at the bank"
    )
    redirect_uri: str | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "login_required"}]})


class LinkInstitution(_Tolerant):
    institution_id: str = Field(max_length=100)
    name: str | None = Field(None, max_length=300)


class LinkAccount(_Tolerant):
    id: str | None = Field(None, max_length=100)
    name: str | None = Field(None, max_length=300)
    mask: str | None = Field(None, max_length=20)
    type: str | None = Field(None, max_length=50)
    subtype: str | None = Field(None, max_length=50)


class LinkSuccessMetadata(_Tolerant):
    institution: LinkInstitution
    accounts: list[LinkAccount] = Field(default_factory=list, max_length=100)
    link_session_id: str | None = Field(None, max_length=200)


class ExchangePublicToken(_Strict):
    public_token: SecretStr = Field(description="from Link's onSuccess; never logged nor echoed")
    metadata: LinkSuccessMetadata
    user_id: str | None = Field(None, description="only for service tokens")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "public_token": "public-sandbox-5c224a01-8314-4491-a06f-39e193d5cddc",
                    "metadata": {
                        "institution": {"institution_id": "ins_109508", "name": "First Platypus Bank"},
                        "accounts": [
                            {
                                "id": "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp",
                                "name": "Plaid Checking",
                                "mask": "0000",
                                "type": "depository",
                                "subtype": "checking",
                            }
                        ],
                        "link_session_id": "79e772be-547d-4c9c-8b76-4ac4ed4c441a",
                    },
                }
            ]
        },
    )


class UpdateModeCompleted(_Strict):
    link_session_id: str | None = Field(None, max_length=200)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"link_session_id": "356dbb28-7f98-44d1-8e6d-0cec580f3171"}]},
    )


class LinkError(_Tolerant):
    error_type: str | None = Field(None, max_length=100)
    error_code: str | None = Field(None, max_length=100)


class LinkSessionEvent(_Tolerant):
    outcome: Literal["success", "exit"]
    link_session_id: str | None = Field(None, max_length=200)
    request_id: str | None = Field(None, max_length=200)
    institution: LinkInstitution | None = None
    item_id: str | None = Field(None, max_length=100)
    error: LinkError | None = None
    status: str | None = Field(None, max_length=100, description="onExit metadata.status")

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "exit",
                    "link_session_id": "79e772be-547d-4c9c-8b76-4ac4ed4c441a",
                    "request_id": "Lz9VrlkXq3BvQ2S",
                    "institution": {"institution_id": "ins_109508", "name": "First Platypus Bank"},
                    "error": {"error_type": "ITEM_ERROR", "error_code": "INVALID_CREDENTIALS"},
                    "status": "requires_credentials",
                }
            ]
        },
    )
