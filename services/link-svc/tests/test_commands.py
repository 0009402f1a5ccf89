"""The account subtypes link-svc accepts in `account_filters` are exactly the SDK's (so the SDK never sees a
filter it refuses, and a subtype Plaid adds shows up here when the SDK is upgraded)."""

from typing import get_args

import pytest
from link_svc.domain import commands
from plaid.model.credit_account_subtype import CreditAccountSubtype
from plaid.model.depository_account_subtype import DepositoryAccountSubtype
from plaid.model.investment_account_subtype import InvestmentAccountSubtype
from plaid.model.loan_account_subtype import LoanAccountSubtype


@pytest.mark.parametrize(
    ("ours", "sdk"),
    [
        (commands.DepositorySubtype, DepositoryAccountSubtype),
        (commands.CreditSubtype, CreditAccountSubtype),
        (commands.LoanSubtype, LoanAccountSubtype),
        (commands.InvestmentSubtype, InvestmentAccountSubtype),
    ],
)
def test_account_subtypes_are_the_sdks(ours: object, sdk: type) -> None:
    assert set(get_args(ours)) == set(sdk.allowed_values[("value",)].values())  # type: ignore[attr-defined]


def test_filters_are_sent_in_plaids_shape() -> None:
    filters = commands.AccountFilters.model_validate({"credit": {"account_subtypes": ["credit card"]}})
    assert filters.for_plaid() == {"credit": {"account_subtypes": ["credit card"]}}
