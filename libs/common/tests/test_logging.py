"""configure_logging renders JSON lines and redaction removes secrets from everything it renders."""

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from bankstream_common.logging import bind_context, bound_context, clear_context, configure_logging
from bankstream_common.redaction import REDACTED, is_sensitive_key, redact_text

ACCESS = "access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6"
PUBLIC = "public-production-0b7c3e4a-1111-4c2d-9e8f-0123456789ab"
LINK = "link-development-8f14e45f-ceea-467a-9e3b-5f0a7e3c2d1b"
EMULATOR = "access-emulator-12345678-90ab-4cde-8f01-23456789abcd"
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLWJ5dGVz"

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def lines() -> Iterator[Lines]:
    out = io.StringIO()
    configure_logging("test-svc", "DEBUG", stream=out)
    clear_context()

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in out.getvalue().splitlines()]

    yield read
    clear_context()
    configure_logging("test-svc", "INFO", stream=io.StringIO())


def test_lines_are_json_with_level_timestamp_service_and_context(lines: Lines) -> None:
    bind_context(request_id="r-1")
    with bound_context(item_id="item-9"):
        structlog.get_logger("x").info("hello", count=3)
    structlog.get_logger("x").warning("after")
    first, second = lines()
    assert first["event"] == "hello" and first["count"] == 3 and first["level"] == "info"
    assert first["service"] == "test-svc" and first["timestamp"].endswith("Z")
    assert (first["request_id"], first["item_id"]) == ("r-1", "item-9")
    assert "item_id" not in second and second["request_id"] == "r-1"


def test_configuring_again_does_not_duplicate_lines(lines: Lines) -> None:
    out = io.StringIO()
    configure_logging("test-svc", "INFO", stream=out)
    configure_logging("test-svc", "INFO", stream=out)
    structlog.get_logger().info("once")
    logging.getLogger("stdlib").info("once too")
    assert len(out.getvalue().splitlines()) == 2


def test_tokens_are_redacted_anywhere_in_structlog_events(lines: Lines) -> None:
    structlog.get_logger().info(
        f"exchanged {PUBLIC} for a token",
        note=f"the token is {ACCESS}.",
        nested={"deep": [{"innocuous": LINK}, ("tuple", EMULATOR)]},
        headers={"Authorization": "Bearer abc.def", "Plaid-Secret": "s3cr3t", "accept": "json"},
        accessToken="not-even-token-shaped",
        client_secret="cs-123",
        password=1234,
        token_type="bearer",
        tokens_count=2,
        item_id="item-42",
        message=f"sent jwt {JWT} to https://u:pw123@host/x",
        header_line="Authorization: Bearer xyz789",
    )
    (line,) = lines()
    text = json.dumps(line)
    for secret in (ACCESS, PUBLIC, LINK, EMULATOR, JWT, "abc.def", "s3cr3t", "not-even", "cs-123", "xyz789"):
        assert secret not in text, secret
    assert "1234" not in text and "pw123" not in text
    assert line["headers"] == {"Authorization": REDACTED, "Plaid-Secret": REDACTED, "accept": "json"}
    assert line["nested"] == {"deep": [{"innocuous": REDACTED}, ["tuple", REDACTED]]}
    assert line["event"] == f"exchanged {REDACTED} for a token"
    # what is not secret survives
    assert (line["token_type"], line["tokens_count"], line["item_id"]) == ("bearer", 2, "item-42")
    assert line["message"] == f"sent jwt {REDACTED} to https://u:{REDACTED}@host/x"
    assert line["header_line"] == f"Authorization: {REDACTED}"


def test_exception_text_is_redacted(lines: Lines) -> None:
    try:
        raise ValueError(f"Plaid refused {ACCESS}")
    except ValueError:
        structlog.get_logger().exception("exchange failed")
    (line,) = lines()
    assert ACCESS not in json.dumps(line)
    assert "ValueError: Plaid refused [REDACTED]" in line["exception"]


def test_stdlib_loggers_go_through_the_same_renderer_and_redaction(lines: Lines) -> None:
    bind_context(request_id="r-2")
    log = logging.getLogger("aiokafka.fake")
    log.info("sending %s with secret=%s", ACCESS, "hunter2")
    try:
        raise RuntimeError(f"boom {LINK}")
    except RuntimeError:
        log.exception("failed")
    first, second = lines()
    assert first["logger"] == "aiokafka.fake" and first["service"] == "test-svc"
    assert first["event"] == f"sending {REDACTED} with secret={REDACTED}"
    assert first["request_id"] == "r-2"
    assert LINK not in json.dumps(second) and "RuntimeError: boom [REDACTED]" in second["exception"]


def test_level_filters(lines: Lines) -> None:
    out = io.StringIO()
    configure_logging("test-svc", "WARNING", stream=out)
    structlog.get_logger().info("dropped")
    logging.getLogger("x").info("dropped")
    structlog.get_logger().warning("kept")
    assert [json.loads(x)["event"] for x in out.getvalue().splitlines()] == ["kept"]


@pytest.mark.parametrize(
    "key",
    [
        "access_token",
        "AccessToken",
        "public-token",
        "PLAID-SECRET",
        "client_secret",
        "password",
        "Authorization",
        "api_key",
        "x-api-key",
        "Cookie",
        "set-cookie",
        "webhook_secret",
        "tokens",
    ],
)
def test_sensitive_keys(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key", ["token_type", "tokens_count", "link_token_expiration", "item_id", "request_id", "status", "event"]
)
def test_keys_that_are_not_secrets(key: str) -> None:
    assert not is_sensitive_key(key)


def test_redact_text_keeps_what_is_not_secret() -> None:
    text = "item item-42 synced 17 transactions; cursor=abc; see https://host/path"
    assert redact_text(text) == text
    assert redact_text('{"access_token": "foo", "x": 1}') == '{"access_token": "[REDACTED]", "x": 1}'
    assert redact_text("GET /x?api_key=k123&y=2") == "GET /x?api_key=[REDACTED]&y=2"
