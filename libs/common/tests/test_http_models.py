"""RequestModel refuses text PostgreSQL cannot store (NUL, a lone surrogate), wherever it sits."""

from bankstream_common.http_models import RequestModel, unstorable_at
from pydantic import SecretStr, ValidationError


def test_nul_and_lone_surrogates_are_found_with_their_path() -> None:
    assert unstorable_at({"csv": "a,b\n1,2\n" * 10_000}) is None
    assert unstorable_at({"csv": "ok", "mapping": {"date": "Da\x00te"}}) == "mapping.date"
    assert unstorable_at({"entries": [{"d": "fine"}, {"d": "half \ud83d of an emoji"}]}) == "entries[1].d"
    assert unstorable_at("\udfff") == "value"
    assert unstorable_at("a whole emoji \U0001f600") is None


def test_a_secret_is_checked_too_and_never_echoed() -> None:
    """A lone surrogate in a public token reached its digest's .encode(): a 500 (#14.5 missed SecretStr)."""

    class Exchange(RequestModel):
        public_token: SecretStr

    assert unstorable_at({"public_token": SecretStr("public-\ud800")}) == "public_token"
    try:
        Exchange(public_token="public-\ud800-secret")  # type: ignore[arg-type]
    except ValidationError as exc:
        messages = " ".join(e["msg"] for e in exc.errors(include_input=False))  # what a 422 shows
        assert "public_token" in messages and "-secret" not in messages
    else:
        raise AssertionError("a lone surrogate in a secret was accepted")
