"""RequestModel refuses text PostgreSQL cannot store (NUL, a lone surrogate), wherever it sits."""

from bankstream_common.http_models import unstorable_at


def test_nul_and_lone_surrogates_are_found_with_their_path() -> None:
    assert unstorable_at({"csv": "a,b\n1,2\n" * 10_000}) is None
    assert unstorable_at({"csv": "ok", "mapping": {"date": "Da\x00te"}}) == "mapping.date"
    assert unstorable_at({"entries": [{"d": "fine"}, {"d": "half \ud83d of an emoji"}]}) == "entries[1].d"
    assert unstorable_at("\udfff") == "value"
    assert unstorable_at("a whole emoji \U0001f600") is None
