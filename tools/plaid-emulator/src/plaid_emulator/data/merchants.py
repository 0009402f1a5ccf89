"""The merchant catalogue: names, raw bank descriptors, PFC categories, typical amounts, where they are.

A descriptor template may use {store} (digits, width from the template), {city}, {st}, {ref} (alphanumerics).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Merchant:
    name: str | None  # merchant_name; None for bank-originated lines (ATM, transfers)
    display: str  # Plaid's cleaned `name`
    descriptor: str
    pfc: str
    confidence: str
    low: float
    high: float
    channel: str  # online | in store | other
    website: str | None
    weight: int
    accounts: tuple[str, ...] = ("checking", "credit card")


@dataclass(frozen=True)
class City:
    name: str
    region: str
    postal_code: str
    lat: float
    lon: float


CITIES = (
    City("SAN FRANCISCO", "CA", "94103", 37.7749, -122.4194),
    City("OAKLAND", "CA", "94612", 37.8044, -122.2712),
    City("NEW YORK", "NY", "10001", 40.7506, -73.9972),
    City("BROOKLYN", "NY", "11201", 40.6943, -73.9903),
    City("CHICAGO", "IL", "60601", 41.8858, -87.6181),
    City("AUSTIN", "TX", "78701", 30.2711, -97.7437),
    City("SEATTLE", "WA", "98101", 47.6101, -122.3344),
    City("DENVER", "CO", "80202", 39.7525, -104.9995),
    City("BOSTON", "MA", "02108", 42.3588, -71.0707),
    City("PORTLAND", "OR", "97205", 45.5202, -122.6874),
)

MERCHANTS = (
    Merchant("Starbucks", "Starbucks", "STARBUCKS #{store:5} {city} {st}", "FOOD_AND_DRINK_COFFEE", "VERY_HIGH",
             3.25, 14.5, "in store", "starbucks.com", 14),
    Merchant("Blue Bottle Coffee", "Blue Bottle Coffee", "SQ *BLUE BOTTLE COFFEE {city} {st}",
             "FOOD_AND_DRINK_COFFEE", "HIGH", 4.5, 18.0, "in store", "bluebottlecoffee.com", 4),
    Merchant("McDonald's", "McDonald's", "MCDONALD'S F{store:5} {city} {st}", "FOOD_AND_DRINK_FAST_FOOD",
             "VERY_HIGH", 5.0, 24.0, "in store", "mcdonalds.com", 6),
    Merchant("Chipotle Mexican Grill", "Chipotle Mexican Grill", "CHIPOTLE {store:4} {city} {st}",
             "FOOD_AND_DRINK_FAST_FOOD", "VERY_HIGH", 9.5, 32.0, "in store", "chipotle.com", 5),
    Merchant("DoorDash", "DoorDash", "DOORDASH*{ref:8} WWW.DOORDASH. CA", "FOOD_AND_DRINK_RESTAURANT", "HIGH",
             18.0, 75.0, "online", "doordash.com", 5),
    Merchant("Tartine Bakery", "Tartine Bakery", "TST* TARTINE BAKERY {city} {st}", "FOOD_AND_DRINK_RESTAURANT",
             "MEDIUM", 12.0, 90.0, "in store", None, 4),
    Merchant("Whole Foods Market", "Whole Foods Market", "WHOLEFDS {store:5} {city} {st}",
             "FOOD_AND_DRINK_GROCERIES", "VERY_HIGH", 12.0, 210.0, "in store", "wholefoodsmarket.com", 8),
    Merchant("Trader Joe's", "Trader Joe's", "TRADER JOE S #{store:3} {city} {st}", "FOOD_AND_DRINK_GROCERIES",
             "VERY_HIGH", 15.0, 140.0, "in store", "traderjoes.com", 8),
    Merchant("Safeway", "Safeway", "SAFEWAY #{store:4} {city} {st}", "FOOD_AND_DRINK_GROCERIES", "VERY_HIGH",
             8.0, 160.0, "in store", "safeway.com", 5),
    Merchant("Shell", "Shell", "SHELL OIL {store:11} {city} {st}", "TRANSPORTATION_GAS", "VERY_HIGH", 25.0, 85.0,
             "in store", "shell.com", 5),
    Merchant("Chevron", "Chevron", "CHEVRON {store:6} {city} {st}", "TRANSPORTATION_GAS", "VERY_HIGH", 28.0, 90.0,
             "in store", "chevron.com", 4),
    Merchant("Uber", "Uber", "UBER *TRIP HELP.UBER.COM CA", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", "VERY_HIGH",
             8.0, 55.0, "online", "uber.com", 7),
    Merchant("Lyft", "Lyft", "LYFT *RIDE {ref:6} LYFT.COM CA", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", "HIGH",
             7.0, 48.0, "online", "lyft.com", 4),
    Merchant("Clipper", "Clipper", "CLIPPER SYSTEMS {city} {st}", "TRANSPORTATION_PUBLIC_TRANSIT", "HIGH",
             2.5, 40.0, "in store", "clippercard.com", 3),
    Merchant("ParkMobile", "ParkMobile", "PARKMOBILE {store:7} {city} {st}", "TRANSPORTATION_PARKING", "MEDIUM",
             2.0, 28.0, "online", "parkmobile.io", 2),
    Merchant("Amazon", "Amazon", "AMZN Mktp US*{ref:9} Amzn.com/bill WA",
             "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", "VERY_HIGH", 6.0, 180.0, "online", "amazon.com", 12),
    Merchant("Target", "Target", "TARGET T-{store:4} {city} {st}", "GENERAL_MERCHANDISE_SUPERSTORES", "VERY_HIGH",
             7.0, 160.0, "in store", "target.com", 6),
    Merchant("Walmart", "Walmart", "WAL-MART #{store:4} {city} {st}", "GENERAL_MERCHANDISE_SUPERSTORES",
             "VERY_HIGH", 5.0, 150.0, "in store", "walmart.com", 5),
    Merchant("Costco", "Costco", "COSTCO WHSE #{store:4} {city} {st}", "GENERAL_MERCHANDISE_SUPERSTORES",
             "VERY_HIGH", 40.0, 320.0, "in store", "costco.com", 4),
    Merchant("CVS Pharmacy", "CVS Pharmacy", "CVS/PHARMACY #{store:5} {city} {st}",
             "MEDICAL_PHARMACIES_AND_SUPPLEMENTS", "VERY_HIGH", 4.0, 65.0, "in store", "cvs.com", 4),
    Merchant("Walgreens", "Walgreens", "WALGREENS #{store:5} {city} {st}", "MEDICAL_PHARMACIES_AND_SUPPLEMENTS",
             "HIGH", 4.0, 55.0, "in store", "walgreens.com", 3),
    Merchant("The Home Depot", "The Home Depot", "THE HOME DEPOT #{store:4} {city} {st}",
             "HOME_IMPROVEMENT_HARDWARE", "VERY_HIGH", 9.0, 420.0, "in store", "homedepot.com", 3),
    Merchant("Chewy", "Chewy", "CHEWY.COM 800-672-4399 FL", "GENERAL_MERCHANDISE_PET_SUPPLIES", "HIGH",
             25.0, 120.0, "online", "chewy.com", 2),
    Merchant("Netflix", "Netflix", "NETFLIX.COM NETFLIX.COM CA", "ENTERTAINMENT_TV_AND_MOVIES", "VERY_HIGH",
             15.49, 22.99, "online", "netflix.com", 2),
    Merchant("Spotify", "Spotify", "Spotify USA 877-7781161 NY", "ENTERTAINMENT_MUSIC_AND_AUDIO", "VERY_HIGH",
             11.99, 16.99, "online", "spotify.com", 2),
    Merchant("Apple", "Apple", "APPLE.COM/BILL 866-712-7753 CA", "GENERAL_MERCHANDISE_ELECTRONICS", "MEDIUM",
             0.99, 29.99, "online", "apple.com", 3),
    Merchant("Comcast", "Comcast", "COMCAST CABLE COMM 800-COMCAST PA", "RENT_AND_UTILITIES_INTERNET_AND_CABLE",
             "VERY_HIGH", 59.0, 129.0, "online", "xfinity.com", 1, ("checking",)),
    Merchant("PG&E", "PG&E", "PGANDE WEB ONLINE {ref:6} CA", "RENT_AND_UTILITIES_GAS_AND_ELECTRICITY", "HIGH",
             45.0, 240.0, "online", "pge.com", 1, ("checking",)),
    Merchant("Verizon", "Verizon", "VERIZON WRLS P{store:6}-01 800-922-0204 NJ", "RENT_AND_UTILITIES_TELEPHONE",
             "VERY_HIGH", 55.0, 140.0, "online", "verizon.com", 1),
    Merchant("GEICO", "GEICO", "GEICO *AUTO 800-841-3000 DC", "GENERAL_SERVICES_INSURANCE", "VERY_HIGH",
             95.0, 210.0, "online", "geico.com", 1),
    Merchant("Planet Fitness", "Planet Fitness", "PLANET FITNESS {store:6} {city} {st}",
             "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS", "HIGH", 10.0, 24.99, "in store", "planetfitness.com", 1),
    Merchant("United Airlines", "United Airlines", "UNITED {store:13} UNITED.COM TX", "TRAVEL_FLIGHTS",
             "VERY_HIGH", 120.0, 780.0, "online", "united.com", 1, ("credit card",)),
    Merchant("Airbnb", "Airbnb", "AIRBNB * HM{ref:8} AIRBNB.COM CA", "TRAVEL_LODGING", "VERY_HIGH",
             140.0, 900.0, "online", "airbnb.com", 1, ("credit card",)),
    Merchant("Venmo", "Venmo", "VENMO PAYMENT {store:10} WEB ID: 3264681992", "TRANSFER_OUT_TRANSFER_OUT_FROM_APPS",
             "MEDIUM", 10.0, 150.0, "other", "venmo.com", 3, ("checking",)),
    Merchant(None, "ATM Withdrawal", "ATM WITHDRAWAL {store:6} {city} {st}", "TRANSFER_OUT_WITHDRAWAL", "HIGH",
             20.0, 200.0, "in store", None, 2, ("checking",)),
)

# Bank-originated and income lines, used by the generator for their own account flows.
PAYROLL = Merchant("Gusto", "Gusto Payroll", "GUSTO PAY {store:6} PPD ID: {store:10}", "INCOME_SALARY",
                   "VERY_HIGH", 1850.0, 3400.0, "other", "gusto.com", 0, ("checking",))
RENT = Merchant(None, "Rent Payment", "ONLINE PMT {ref:8} RENT CITYVIEW APTS", "RENT_AND_UTILITIES_RENT", "HIGH",
                1450.0, 3200.0, "online", None, 0, ("checking",))
TO_SAVINGS = Merchant(None, "Transfer to Savings", "ONLINE TRANSFER TO SAV XXXXXX{store:4}",
                      "TRANSFER_OUT_SAVINGS", "VERY_HIGH", 50.0, 600.0, "other", None, 0, ("checking",))
FROM_CHECKING = Merchant(None, "Transfer from Checking", "ONLINE TRANSFER FROM CHK XXXXXX{store:4}",
                         "TRANSFER_IN_SAVINGS", "VERY_HIGH", 50.0, 600.0, "other", None, 0, ("savings",))
INTEREST = Merchant(None, "Interest Payment", "INTEREST PAYMENT", "INCOME_INTEREST_EARNED", "VERY_HIGH",
                    0.05, 12.0, "other", None, 0, ("savings",))
CARD_PAYMENT = Merchant(None, "Payment Thank You", "PAYMENT THANK YOU-MOBILE", "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT",
                        "VERY_HIGH", 150.0, 1800.0, "other", None, 0, ("credit card",))
CARD_AUTOPAY = Merchant(None, "Credit Card Autopay", "PLATYPUS CARD AUTOPAY PPD ID: {store:10}",
                        "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT", "VERY_HIGH", 150.0, 1800.0, "other", None, 0,
                        ("checking",))
