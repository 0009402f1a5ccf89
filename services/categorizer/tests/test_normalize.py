"""normalize_description: the merchant a US bank descriptor names, without the noise banks print around it."""

import pytest
from categorizer.domain.model import normalize_description


@pytest.mark.parametrize(
    ("descriptor", "merchant"),
    [
        # known merchants come back under their canonical name, whatever the bank printed around them
        ("AMZN Mktp US*2K4LL1 Amzn.com/bill WA", "amazon"),
        ("SQ *BLUE BOTTLE COFF Oakland CA", "blue bottle coffee"),
        ("PAYPAL *NETFLIX.COM 402-935-7733 CA", "netflix"),
        ("CHECKCARD 0412 SHELL OIL 57442650500 HOUSTON TX", "shell"),
        ("POS DEBIT - VISA CHECK CARD 4821 - TARGET T-1234 DENVER CO", "target"),
        ("PURCHASE AUTHORIZED ON 03/18 KROGER #0423 COLUMBUS OH S461102754384 CARD 4821", "kroger"),
        ("WHOLEFDS MKT 10236 AUSTIN TX", "whole foods market"),
        ("WM SUPERCENTER #1842 PLANO TX", "walmart"),
        ("7-ELEVEN 34512 DALLAS TX", "7-eleven"),
        # unknown merchants: the descriptor without processor prefix, store number, date, city and state
        ("SQ *JOES TACO SHACK Austin TX", "joes taco shack"),
        ("TST* MAMAS KITCHEN #1234 DENVER CO", "mamas kitchen"),
        ("POS DEBIT 04/12 CORNER BODEGA 5512 SEATTLE WA", "corner bodega"),
        ("ACH DEBIT ACME WIDGETS INC PPD ID: 1234567890", "acme widgets"),
        ("DEBIT CARD PURCHASE XXXXX4821 GREEN LEAF NURSERY", "green leaf nursery"),
        ("", ""),
    ],
)
def test_strips_us_descriptor_noise_down_to_the_merchant(descriptor: str, merchant: str) -> None:
    assert normalize_description(descriptor) == merchant


def test_the_same_merchant_at_two_stores_normalizes_the_same() -> None:
    a = normalize_description("SQ *LUCKYS DINER #12 Portland OR 04/01")
    b = normalize_description("SQ *LUCKYS DINER #407 Boston MA 11/30")
    assert a == b == "luckys diner"
