"""What callers ask link-svc to do, as validated models (the HTTP API's request bodies, with examples).

Link parameters a caller may NOT choose: the webhook URL and the OAuth redirect URI come from settings only
(a caller-chosen redirect would send the user, with the OAuth state, where the caller likes); products
must be in the configured allow-list (handlers/link.py: some are billed per Item). `account_filters` are
checked against Plaid's account types and subtypes here, before the SDK sees them (the SDK's enums, a few
newer than the 2020-09-14 spec: test_commands.py holds them together).

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


DepositorySubtype = Literal[
    "checking", "savings", "hsa", "cd", "money market", "paypal", "prepaid", "cash management", "ebt",
    "limited purpose checking", "all",
]  # fmt: skip
CreditSubtype = Literal["credit card", "paypal", "all"]
LoanSubtype = Literal[
    "auto", "business", "commercial", "construction", "consumer", "home equity", "loan", "mortgage",
    "overdraft", "line of credit", "student", "other", "home equity loan", "commercial line of credit", "all",
]  # fmt: skip
InvestmentSubtype = Literal[
    "529", "401a", "401k", "403B", "457b", "brokerage", "cash isa", "crypto exchange",
    "education savings account", "fhsa", "fixed annuity", "gic", "health reimbursement arrangement", "hsa",
    "ira", "isa", "keogh", "lif", "life insurance", "line of credit", "lira", "lrif", "lrsp", "mutual fund",
    "non-custodial wallet", "non-taxable brokerage account", "other", "other annuity", "other insurance",
    "pension", "prediction market", "prif", "profit sharing plan", "qshr", "rdsp", "resp", "retirement",
    "rlif", "roth", "roth 401k", "roth 403B", "roth 457b", "roth pension", "roth profit sharing plan",
    "roth thrift savings plan", "rrif", "rrsp", "sarsep", "sep ira", "simple ira", "sipp", "stock plan",
    "thrift savings plan", "tfsa", "trust", "ugma", "utma", "variable annuity", "all",
]  # fmt: skip
MAX_SUBTYPES = 64


class DepositoryFilter(_Strict):
    account_subtypes: list[DepositorySubtype] = Field(min_length=1, max_length=MAX_SUBTYPES)


class CreditFilter(_Strict):
    account_subtypes: list[CreditSubtype] = Field(min_length=1, max_length=MAX_SUBTYPES)


class LoanFilter(_Strict):
    account_subtypes: list[LoanSubtype] = Field(min_length=1, max_length=MAX_SUBTYPES)


class InvestmentFilter(_Strict):
    account_subtypes: list[InvestmentSubtype] = Field(min_length=1, max_length=MAX_SUBTYPES)


class AccountFilters(_Strict):
    """Plaid's `account_filters`: per account type, the subtypes Link shows (a type left out is hidden)."""

    depository: DepositoryFilter | None = None
    credit: CreditFilter | None = None
    loan: LoanFilter | None = None
    investment: InvestmentFilter | None = None

    def for_plaid(self) -> dict[str, dict[str, list[str]]]:
        chosen = self.model_dump(exclude_none=True).items()
        return {kind: {"account_subtypes": list(f["account_subtypes"])} for kind, f in chosen}


class CreateLinkToken(_Strict):
    user_id: str | None = Field(
        None, max_length=200, description="only for service tokens: the user the link is for"
    )
    products: list[str] | None = Field(
        None, min_length=1, max_length=8, description="Plaid products, from the configured allow-list"
    )
    days_requested: int | None = Field(None, ge=1, le=730, description="transactions history, 730 by default")
    account_filters: AccountFilters | None = Field(
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
    user_id: str | None = Field(None, max_length=200, description="only for service tokens")

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
    user_id: str | None = Field(None, max_length=200, description="only for service tokens")
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
