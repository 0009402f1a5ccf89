"""The model tier's decisions: merchants, keyword families, the direction of money, refunds, and no idea."""

import dataclasses

import pytest
from categorizer.domain import taxonomy
from categorizer.domain.model import MODEL_NAME, DataFileError, Model, Prediction


@pytest.fixture(scope="module")
def model() -> Model:
    return Model.load()


@pytest.mark.parametrize(
    ("description", "amount", "detailed", "reason"),
    [
        ("SQ *BLUE BOTTLE COFF Oakland CA", 6.25, "FOOD_AND_DRINK_COFFEE", "merchant:blue bottle"),
        (
            "AMZN Mktp US*2K4LL1 Amzn.com/bill WA",
            34.99,
            "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES",
            "merchant:amzn mktp",
        ),
        ("ACH DEBIT ACME WIDGETS INC PAYROLL", -2450.0, "INCOME_SALARY", "keyword:payroll"),
        ("ZELLE TO MARIA GARCIA ON 04/12", 150.0, "TRANSFER_OUT_TRANSFER_OUT_FROM_APPS", "keyword:zelle to"),
        (
            "CHECKCARD 0412 SHELL OIL 57442650500 HOUSTON TX",
            48.12,
            "TRANSPORTATION_GAS",
            "merchant:shell oil",
        ),
        # what the transaction is beats who it is with: cash from an ATM inside a 7-Eleven is a withdrawal
        (
            "CASH WITHDRAWAL ATM 7-ELEVEN DALLAS TX",
            40.0,
            "TRANSFER_OUT_WITHDRAWAL",
            "keyword:cash withdrawal",
        ),
        # the longer name wins: a store's gas station is gas
        ("CHECKCARD 1103 COSTCO GAS #0113 ISSAQUAH WA", 55.41, "TRANSPORTATION_GAS", "merchant:costco gas"),
        # a delivery platform yields to the restaurant its descriptor names
        ("DD *DOORDASH CHIPOTLE SAN FRANCISCO CA", 24.67, "FOOD_AND_DRINK_FAST_FOOD", "merchant:chipotle"),
        # an unknown small business, by what its name says (words from the PFC descriptions)
        ("SQ *BRIGHT SMILES DENTAL Miami FL", 95.0, "MEDICAL_DENTAL_CARE", "keyword:smiles"),
        ("SQ *SMOKEY BBQ GRILL Kansas City MO", 27.35, "FOOD_AND_DRINK_RESTAURANT", "keyword:bbq grill"),
        ("OVERDRAFT FEE FOR A $4.99 ITEM", 35.0, "BANK_FEES_OVERDRAFT_FEES", "keyword:overdraft fee"),
    ],
)
def test_categorizes_real_descriptor_shapes(
    model: Model, description: str, amount: float, detailed: str, reason: str
) -> None:
    prediction = model.predict(description, amount)
    assert prediction is not None
    assert (prediction.detailed, prediction.reason) == (detailed, reason)
    assert prediction.primary == taxonomy.primary_of(detailed)
    assert 0 < prediction.confidence <= 1


def test_the_direction_of_money_decides_between_a_ride_and_gig_income(model: Model) -> None:
    ride = model.predict("UBER *TRIP HELP.UBER.COM CA", 18.42)
    pay = model.predict("UBER USA 6787 EDI PAYMNTS", -312.45)
    assert ride is not None and ride.detailed == "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"
    assert pay is not None and pay.detailed == "INCOME_GIG_ECONOMY"
    sent = model.predict("VENMO PAYMENT 1012345678", 60.0)
    received = model.predict("VENMO CASHOUT PPD ID: 5264681992", -230.0)
    assert sent is not None and sent.detailed == "TRANSFER_OUT_TRANSFER_OUT_FROM_APPS"
    assert received is not None and received.detailed == "TRANSFER_IN_TRANSFER_IN_FROM_APPS"


def test_money_in_at_a_merchant_is_a_refund_in_the_merchants_category(model: Model) -> None:
    purchase = model.predict("TST* TARTINE BAKERY SAN FRANCISCO CA", 12.0)
    refund = model.predict("TST* TARTINE BAKERY SAN FRANCISCO CA", -12.0)
    assert purchase is not None and refund is not None
    assert refund.detailed == purchase.detailed == "FOOD_AND_DRINK_OTHER_FOOD_AND_DRINK"
    assert refund.reason == purchase.reason + ";refund"
    assert refund.confidence < purchase.confidence


def test_names_the_merchant_it_recognised(model: Model) -> None:
    prediction = model.predict("STARBUCKS STORE 08412 SEATTLE WA", 5.45)
    assert prediction == Prediction(
        primary="FOOD_AND_DRINK",
        detailed="FOOD_AND_DRINK_COFFEE",
        confidence=0.9,
        merchant="Starbucks",
        reason="merchant:starbucks",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        prediction.detailed = "OTHER_OTHER"  # type: ignore[misc]


def test_uses_the_merchant_name_when_the_description_says_nothing(model: Model) -> None:
    assert model.predict("POS PURCHASE 0412 4821", 12.0) is None
    prediction = model.predict("POS PURCHASE 0412 4821", 12.0, merchant_name="Chipotle Mexican Grill")
    assert prediction is not None and prediction.detailed == "FOOD_AND_DRINK_FAST_FOOD"
    assert prediction.merchant == "Chipotle"


@pytest.mark.parametrize("description", ["", "   ", "XQZ 12345 ZZYZX", "CHECK 1042", "#@!*"])
def test_has_no_idea_rather_than_a_guess(model: Model, description: str) -> None:
    assert model.predict(description, 20.0, iso_currency_code="USD") is None


def test_is_deterministic_and_names_itself(model: Model) -> None:
    again = Model.load()
    for description, amount in [
        ("SQ *BLUE BOTTLE COFF", 6.0),
        ("GUSTO PAY 201303", -900.0),
        ("LATE FEE", 40.0),
    ]:
        assert model.predict(description, amount) == again.predict(description, amount)
    assert MODEL_NAME == "keywords-v2"


def _reader(**overrides: str):  # type: ignore[no-untyped-def]
    from categorizer.domain.taxonomy import read_data_file

    return lambda name: overrides.get(name) or read_data_file(name)


def test_a_data_row_outside_the_taxonomy_is_refused_at_load_naming_file_and_line() -> None:
    merchants = "pattern,merchant,detailed,direction,weak\nstarbucks,Starbucks,FOOD_AND_DRINK_COFFEE,any,0\n"
    bad = merchants + "blue bottle,Blue Bottle,FOOD_AND_DRINK_ESPRESSO,any,0\n"
    with pytest.raises(DataFileError, match=r"merchants\.csv:3: 'FOOD_AND_DRINK_ESPRESSO'"):
        Model.load(_reader(**{"merchants.csv": bad}))
    with pytest.raises(DataFileError, match=r"merchants\.csv:2: direction"):
        Model.load(_reader(**{"merchants.csv": merchants.replace(",any,", ",sideways,")}))
    keywords = "phrase,detailed,direction,priority,family\npayroll,INCOME_SALARY,in,9,payroll\n"
    with pytest.raises(DataFileError, match=r"keywords\.csv:2: priority"):
        Model.load(_reader(**{"keywords.csv": keywords}))
    assert Model.load(_reader(**{"merchants.csv": merchants})).predict("STARBUCKS #1", 5.0) is not None
