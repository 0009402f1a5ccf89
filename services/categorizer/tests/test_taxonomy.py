"""The PFC v2 taxonomy ships with the package and answers the questions the tiers ask of it."""

import pytest
from categorizer.domain import taxonomy


def test_holds_plaids_127_detailed_codes_under_18_primaries() -> None:
    assert len(taxonomy.categories()) == 127
    assert len(taxonomy.primaries()) == 18
    assert taxonomy.primaries()[0] == "INCOME"
    assert "OTHER" in taxonomy.primaries()


def test_knows_a_detailed_code_and_its_primary() -> None:
    assert taxonomy.is_valid("FOOD_AND_DRINK_COFFEE")
    assert taxonomy.primary_of("FOOD_AND_DRINK_COFFEE") == "FOOD_AND_DRINK"
    assert taxonomy.primary_of("TRANSFER_OUT_WITHDRAWAL") == "TRANSFER_OUT"
    assert taxonomy.primary_of(taxonomy.UNCATEGORIZED) == "OTHER"
    assert taxonomy.description_of("GENERAL_MERCHANDISE_SUPERSTORES").startswith("Superstores such as Target")


@pytest.mark.parametrize("code", ["FOOD_AND_DRINK", "FOOD_AND_DRINK_PIZZA", "food_and_drink_coffee", ""])
def test_rejects_what_is_not_a_detailed_code(code: str) -> None:
    assert not taxonomy.is_valid(code)
    with pytest.raises(KeyError):
        taxonomy.primary_of(code)


def test_every_detailed_code_starts_with_its_primary() -> None:
    for category in taxonomy.categories():
        assert category.detailed.startswith(category.primary + "_"), category
