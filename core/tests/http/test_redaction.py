"""The log scrubber: a table of leaky and benign strings, records of every logger, install() (docs/http.md)."""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storelink import Secret, redaction
from storelink.redaction import RedactingFilter, install, neutralize, scrub

JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYW5hcnkiLCJpYXQiOjE3MDB9.c2lnbmF0dXJlLXBhcnQtMTIz"

LEAKY = [
    ("Authorization: Bearer abc.def.ghi-123", "abc.def.ghi-123"),
    ("authorization=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
    ("{'Authorization': 'Bearer tok_live_9f8e7d6c'}", "tok_live_9f8e7d6c"),
    ('{"authorization": "token ghp_0123456789abcdef"}', "ghp_0123456789abcdef"),
    ("Proxy-Authorization: Basic cHJveHk6c2VjcmV0", "cHJveHk6c2VjcmV0"),
    ("sent bearer 8f14e45fceea167a5a36dedd4bea2543", "8f14e45fceea167a5a36dedd4bea2543"),
    (f"token was {JWT}", JWT),
    (f'login answered {{"access_token": "{JWT}"}}', JWT),
    ('{"access_token": "opaque-0123456789", "expires_in": 300}', "opaque-0123456789"),
    ("{'refresh_token': 'rt-9876543210abc'}", "rt-9876543210abc"),
    ('"client_secret":"cs-aaaabbbbcccc"', "cs-aaaabbbbcccc"),
    ("application_key=appkey-1234567890", "appkey-1234567890"),
    ("password: hunter2hunter2", "hunter2hunter2"),
    ("GET https://s.example.com/x?access_token=qwertyuiop123 200", "qwertyuiop123"),
    ("GET https://s.example.com/x?limit=2&token=zxcvbnm98765", "zxcvbnm98765"),
    ("https://s.example.com/cb?code=authcode-55555&state=s", "authcode-55555"),
    ("https://s.example.com/x?api_key=k-13579246810", "k-13579246810"),
    ("https://s.example.com/x;sig=abcdef0123456789", "abcdef0123456789"),
    ("https://s.example.com/x?a=1&client_secret=topsecret-42", "topsecret-42"),
    ("https://s.example.com/x?password=p4ssw0rd-long", "p4ssw0rd-long"),
    (f"nested {{'a': {{'b': ['{JWT}']}}}}", JWT),
    ("Traceback: ValueError: bad header Authorization: Bearer xyz-987654321", "xyz-987654321"),
]

BENIGN = [
    "fetched 250 products in 1.2 s",
    "GET https://store.example.com/ccadmin/v1/products?limit=250&offset=0 -> 200 in 12.3 ms",
    "Bearer tokens are sent in the Authorization header",
    "Authorization header missing",
    "the key rotation finished: 12 rows rewrapped",
    "secret fields are masked in forms",
    "token_type=bearer",
    "expires_in=300",
    "connection c1 is active",
    "retrying in 0.42 s (attempt 2)",
    "order ch-1001 created as o30001",
    "HTTP 503, code E503",
    "password reset is done by the merchant",
    "a JWT has three parts",
    "eyJ is how base64 JSON begins",
    "sku=SKU-123&qty=2",
    "https://store.example.com/ccadmin/v1/orders?queryFormat=SCIM&q=submittedDate",
    "Retry-After: 7",
    "User-Agent: storelink/0.1.0",
    "keys: kid1, kid2",
    "the access token is renewed at 240 s",
    "capability create_orders is denied",
]


@pytest.mark.parametrize(("text", "secret"), LEAKY, ids=range(len(LEAKY)))
def test_leaky_strings_are_scrubbed(text: str, secret: str) -> None:
    assert secret not in scrub(text)
    assert "***" in scrub(text)


@pytest.mark.parametrize("text", BENIGN)
def test_benign_strings_are_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_the_tables_have_at_least_20_rows_each() -> None:
    assert len(LEAKY) >= 20
    assert len(BENIGN) >= 20


def test_registered_secret_values_are_scrubbed_with_their_encoded_forms() -> None:
    value = "plain/secret value+with=odd chars"
    secret = Secret(value)
    encoded = [
        value,
        quote(value, safe=""),
        base64.b64encode(value.encode()).decode(),
        base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
    ]
    for form in encoded:
        assert form not in scrub(f"before {form} after")
    assert secret  # keeps the value registered until here


def test_a_secret_no_longer_alive_is_no_longer_scrubbed() -> None:
    text = "transient-secret-value-0001"
    secret = Secret(text)
    assert scrub(text) == "***"
    del secret
    import gc

    gc.collect()
    assert scrub(text) == text


def test_short_secret_values_are_not_scrubbed_by_value() -> None:
    short = Secret("admin")
    assert scrub("audience admin") == "audience admin"
    assert short


def test_neutralize_escapes_line_breaks_and_control_characters() -> None:
    assert neutralize("a\r\nINFO forged\x1b[31m\tb") == "a\\r\\nINFO forged\\x1b[31m\tb"


@pytest.fixture
def captured() -> Iterator[list[logging.LogRecord]]:
    """Records of a fresh logger, kept as emitted (after the record factory's scrubbing)."""
    install()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tests.redaction")
    handler = Keep(level=logging.DEBUG)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(handler)


def test_message_args_exception_and_stack_of_any_logger_are_scrubbed(captured: list[logging.LogRecord]) -> None:
    value = "sk-CANARY-record-0123456789"
    secret = Secret(value)
    logger = logging.getLogger("tests.redaction")
    logger.info("key %s in args", value)
    logger.info(f"key {value} in the template")
    logger.info("mapping %(key)s", {"key": value})
    try:
        raise RuntimeError(f"failed with {value}")
    except RuntimeError:
        logger.exception("boom")
    logger.info("with stack", stack_info=True, extra={"authorization": "Bearer x", "note": f"n {value}"})
    for record in captured:
        shown = [
            record.getMessage(),
            str(record.msg),
            repr(record.args),
            record.exc_text or "",
            record.stack_info or "",
        ]
        # exc_info keeps the exception object for tools that need it; text comes from exc_text.
        shown += [str(v) for k, v in vars(record).items() if k != "exc_info"]
        assert not any(value in s for s in shown), record.getMessage()
    assert captured[3].exc_text is not None
    assert "RuntimeError: failed with ***" in captured[3].exc_text
    assert captured[4].__dict__["authorization"] == "***"
    assert secret


def test_interpolated_fields_cannot_forge_log_lines(captured: list[logging.LogRecord]) -> None:
    logger = logging.getLogger("tests.redaction")
    logger.warning("store %s answered %s", "shop\r\n2026-01-01 CRITICAL forged", "ok\n\x1b[2J")
    assert captured[0].getMessage() == "store shop\\r\\n2026-01-01 CRITICAL forged answered ok\\n\\x1b[2J"
    logger.warning("a template\nmay span lines")
    assert captured[1].getMessage() == "a template\nmay span lines"


def test_numeric_args_keep_their_type(captured: list[logging.LogRecord]) -> None:
    logging.getLogger("tests.redaction").info("%d items in %.1f s", 250, 1.25)
    assert captured[0].args == (250, 1.25)
    assert captured[0].getMessage() == "250 items in 1.2 s"


def test_install_is_idempotent() -> None:
    handler = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install()
        factory = logging.getLogRecordFactory()
        install()
        install()
        assert logging.getLogRecordFactory() is factory
        assert isinstance(factory, redaction._ScrubbingFactory)
        assert not isinstance(factory.previous, redaction._ScrubbingFactory)
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    finally:
        root.removeHandler(handler)


def test_the_filter_scrubs_records_made_elsewhere() -> None:
    """A record built without the factory (e.g. received from another process) is scrubbed by the filter."""
    value = "sk-CANARY-elsewhere-987654"
    secret = Secret(value)
    record = logging.makeLogRecord({"msg": "got %s", "args": (value,), "token": value})
    assert RedactingFilter().filter(record)
    assert value not in record.getMessage()
    assert record.__dict__["token"] == "***"
    assert secret


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(min_size=8).filter(lambda s: "*" not in s),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_a_registered_secret_never_survives_scrubbing(secret: str, before: str, after: str) -> None:
    held = Secret(secret)
    assert secret not in scrub(before + secret + after)
    assert held


@pytest.mark.parametrize(
    ("typed", "echoed"),
    [
        ("shop.example.com", "shop.example.com"),
        ("https://Shop.Example.com/occs-admin/", "https://Shop.Example.com/occs-admin/"),
        ("https://user:pw1234567@shop.example.com/x", "https://shop.example.com/x"),
        ("//user@shop.example.com", "//shop.example.com"),
        ("user:pw@shop.example.com", "shop.example.com"),
        ("shop.example.com/?api_key=abcdefgh", "shop.example.com/"),
        ("shop.example.com#access_token=abcdefgh", "shop.example.com"),
        ("shop.example.com/a@b", "shop.example.com/a@b"),  # an @ in the path is not user info
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4eHh4In0.c2lnbmF0dXJl", "***"),
        ("", ""),
    ],
)
def test_safe_to_echo_drops_user_info_query_and_fragment(typed: str, echoed: str) -> None:
    assert redaction.safe_to_echo(typed) == echoed
