"""storelink.codec: models to JSON, drafts from JSON, cursors, payload hashes."""

from __future__ import annotations

import collections
import enum
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from attrs import field, frozen
from hypothesis import given, settings
from hypothesis import strategies as st

from storelink import (
    AccessReport,
    AccessToken,
    Address,
    Capability,
    CapabilityCheck,
    Connection,
    ConnectionStatus,
    CredentialField,
    CredentialSchema,
    Customer,
    Image,
    InputError,
    Money,
    OffsetCursor,
    Order,
    OrderDraft,
    OrderLine,
    OrderTotals,
    Payment,
    PlatformInfo,
    Product,
    Secret,
    StorelinkError,
    StoreURL,
    TokenCursor,
    Variant,
)
from storelink.codec import (
    cursor_from_str,
    cursor_to_str,
    draft_from_jsonable,
    encode_line,
    encode_lines,
    order_from_jsonable,
    payload_hash,
    to_jsonable,
)

ISSUE_DRAFT: dict[str, Any] = {
    "reference": "chan-1001",
    "lines": [{"product_id": "prod100", "sku_id": "sku100_0", "quantity": 2}],
    "shipping_address": {
        "name": "Ada Lovelace",
        "line1": "1 Main St",
        "line2": None,
        "city": "Syracuse",
        "region": "NY",
        "postal_code": "13202",
        "country": "US",
        "email": "ada@example.com",
        "phone": "+13155550100",
    },
    "shipping_method_id": "ground",
    "payment": {"type": "invoice", "po_number": "PO-1"},
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """Return a deep copy of the issue's draft with *path* (dotted, ints index) set to *value*."""
    draft: Any = json.loads(json.dumps(ISSUE_DRAFT))
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = draft
    for p in parents:
        target = target[p]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    result: dict[str, Any] = draft
    return result


# --------------------------------------------------------------------------- to_jsonable


def test_to_jsonable_encodes_every_special_type() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    conn = Connection(
        id="c1",
        platform="occ",
        store_url=StoreURL(origin="https://shop.example.com"),
        status=ConnectionStatus.NEEDS_ATTENTION,
        created_at=created,
        updated_at=created,
        settings={"site": "siteUS"},
    )
    assert to_jsonable(conn) == {
        "id": "c1",
        "platform": "occ",
        "store_url": "https://shop.example.com",
        "status": "needs_attention",
        "created_at": "2026-01-02T03:04:05+00:00",
        "updated_at": "2026-01-02T03:04:05+00:00",
        "settings": {"site": "siteUS"},
        "last_error": None,
        "credentials_expire_at": None,
        "label": None,
    }
    assert to_jsonable(Money(amount="12.50", currency="USD")) == {"amount": "12.50", "currency": "USD"}
    report = AccessReport(checks=(CapabilityCheck(capability=Capability.ORDERS, ok=False, detail="denied"),))
    assert to_jsonable(report) == {"checks": [{"capability": "orders", "ok": False, "detail": "denied"}]}


def test_to_jsonable_masks_secrets_and_drops_repr_hidden_fields() -> None:
    def check(value: str) -> None:
        del value

    info = PlatformInfo(
        slug="fake",
        title="Fake",
        credential_schema=CredentialSchema(
            fields=(CredentialField(name="key", label="Key", secret=True, validator=check),)
        ),
        capabilities=frozenset({Capability.PRODUCTS, Capability.ORDERS}),
    )
    encoded = to_jsonable(info)
    assert encoded["capabilities"] == ["orders", "products"]
    assert "validator" not in encoded["credential_schema"]["fields"][0]
    json.dumps(encoded)  # every value is JSON
    token = AccessToken(value=Secret("CANARY-token"), expires_in=300)
    assert to_jsonable(token)["value"] == "***"
    assert "CANARY" not in json.dumps(to_jsonable(token))


def test_to_jsonable_encodes_subclasses_like_their_base() -> None:
    class Tag(str):
        pass

    class Level(enum.IntEnum):
        HIGH = 3

    Point = collections.namedtuple("Point", "x y")
    extra = {
        "tag": Tag("x"),
        "level": Level.HIGH,
        "ordered": collections.OrderedDict(z=Decimal("1.50"), y=(1, 2)),
        "point": Point(1, 2),
    }
    encoded = to_jsonable(Payment(type="card", extra=extra))["extra"]
    assert json.dumps(encoded) == '{"tag": "x", "level": 3, "ordered": {"z": "1.50", "y": [1, 2]}, "point": [1, 2]}'
    assert type(encoded["ordered"]) is dict


def test_to_jsonable_refuses_what_is_not_a_model() -> None:
    with pytest.raises(TypeError, match="attrs model"):
        to_jsonable({"a": 1})
    with pytest.raises(TypeError, match="no JSON form"):
        to_jsonable(Payment(type="card", extra={"when": object()}))


# --------------------------------------------------------------------------- drafts


def test_the_issue_draft_parses() -> None:
    draft = draft_from_jsonable(ISSUE_DRAFT)
    assert draft.reference == "chan-1001"
    assert draft.lines == (OrderLine(product_id="prod100", sku_id="sku100_0", quantity=2),)
    assert draft.shipping_address.country == "US"
    assert draft.payment == Payment(type="invoice", po_number="PO-1")


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("lines.0.quantity", 0, "lines[0].quantity: must be a positive integer"),
        ("lines.0.quantity", "2", "lines[0].quantity: must be a positive integer"),
        ("lines.0.quantity", True, "lines[0].quantity: must be a positive integer"),
        ("lines.0.quantity", KeyError, "lines[0].quantity: must be a positive integer"),
        ("lines.0.sku_id", KeyError, "lines[0].sku_id: is required"),
        ("lines.0.sku_id", 7, "lines[0].sku_id: must be a string, got a number"),
        ("lines.0.product_id", "", "lines[0].product_id: must not be empty"),
        ("lines.0.colour", "red", "lines[0].colour: is not a known field"),
        ("lines.0", "sku100_0", "lines[0]: must be an object, got a string"),
        ("lines", [], "lines: must hold at least one line"),
        ("lines", {"a": 1}, "lines: must be an array, got an object"),
        ("lines", KeyError, "lines: is required"),
        ("reference", "", "reference: must not be empty"),
        ("reference", "has space", "reference: must be 1 to 128 letters"),
        ("reference", "x" * 129, "reference: must be 1 to 128 letters"),
        ("shipping_address", KeyError, "shipping_address: is required"),
        ("shipping_address", [], "shipping_address: must be an object, got an array"),
        ("shipping_address.country", "us", "shipping_address.country: must be an ISO 3166 code"),
        ("shipping_address.email", "nobody", "shipping_address.email: is not valid"),
        ("shipping_address.city", None, "shipping_address.city: is required"),
        ("shipping_method_id", 3, "shipping_method_id: must be a string"),
        ("payment.type", KeyError, "payment.type: is required"),
        ("payment.amount", {"amount": "1.0"}, "payment.amount.currency: is required"),
        ("payment.amount", {"amount": "x", "currency": "USD"}, "payment.amount.amount: must be a finite decimal"),
        ("payment.amount", {"amount": True, "currency": "USD"}, "payment.amount.amount: must be a decimal string"),
        ("payment.amount", {"amount": "1", "currency": "usd"}, "payment.amount.currency: must be an ISO 4217"),
        ("payment.extra", [1], "payment.extra: must be an object, got an array"),
        ("shiping_address", {}, "shiping_address: is not a known field"),
        ("customer", {"email": "a@b", "nick": "x"}, "customer.nick: is not a known field"),
    ],
)
def test_a_malformed_draft_names_the_field(path: str, value: Any, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        draft_from_jsonable(with_change(path, value))
    assert str(caught.value).startswith(expected)
    assert caught.value.path == expected.split(":")[0]
    assert isinstance(caught.value, StorelinkError)


def test_a_draft_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InputError, match=r"^draft: must be an object, got an array"):
        draft_from_jsonable([ISSUE_DRAFT])


# --------------------------------------------------------------------------- round trips

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12)
_opt_text = st.none() | _text
_money = st.builds(
    Money,
    amount=st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=10**6),
    currency=st.from_regex(r"[A-Z]{3}", fullmatch=True),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_text, children, max_size=3),
    max_leaves=6,
)
_extra = st.dictionaries(_text, _json, max_size=3)
_payment_type = st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-]{0,15}", fullmatch=True)
_email = st.none() | st.from_regex(r"[a-z]{1,5}@[a-z]{1,5}\.com", fullmatch=True)
_address = st.builds(
    Address,
    name=_text,
    line1=_text,
    line2=_opt_text,
    city=_text,
    region=_opt_text,
    postal_code=_opt_text,
    country=st.from_regex(r"[A-Z]{2}", fullmatch=True),
    email=_email,
    phone=_opt_text,
)
_line = st.builds(
    OrderLine,
    product_id=_text,
    sku_id=_text,
    quantity=st.integers(min_value=1, max_value=10**6),
    price=st.none() | _money,
)
drafts = st.builds(
    OrderDraft,
    reference=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}", fullmatch=True),
    lines=st.lists(_line, min_size=1, max_size=4),
    shipping_address=_address,
    billing_address=st.none() | _address,
    shipping_method_id=_text,
    payment=st.none()
    | st.builds(Payment, type=_payment_type, po_number=_opt_text, amount=st.none() | _money, extra=_extra),
    customer=st.none() | st.builds(Customer, id=_opt_text, email=_email, name=_opt_text),
    extra=_extra,
)


@settings(max_examples=300)
@given(drafts)
def test_a_draft_survives_json(draft: OrderDraft) -> None:
    text = json.dumps(to_jsonable(draft))
    again = draft_from_jsonable(json.loads(text))
    assert again == draft
    assert payload_hash(again) == payload_hash(draft)


@given(drafts, drafts)
def test_payload_hash_tells_drafts_apart(a: OrderDraft, b: OrderDraft) -> None:
    assert (payload_hash(a) == payload_hash(b)) == (a == b)


def test_payload_hash_ignores_trailing_zeros_and_key_order() -> None:
    one = draft_from_jsonable(with_change("lines.0.price", {"amount": "12.50", "currency": "USD"}))
    two = draft_from_jsonable(with_change("lines.0.price", {"currency": "USD", "amount": 12.5}))
    assert one == two
    assert payload_hash(one) == payload_hash(two)
    other = draft_from_jsonable(with_change("lines.0.quantity", 3))
    assert payload_hash(other) != payload_hash(one)
    assert len(payload_hash(one)) == 64


def test_to_jsonable_keeps_offsets_of_datetimes() -> None:
    when = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=-4)))
    conn = Connection(
        id="c",
        platform="occ",
        store_url=StoreURL(origin="https://a.example.com"),
        status="active",
        created_at=when,
        updated_at=when,
    )
    assert datetime.fromisoformat(to_jsonable(conn)["created_at"]) == when
    assert Decimal(to_jsonable(Money(amount="0.10", currency="EUR"))["amount"]) == Decimal("0.10")


_zones = st.sampled_from([UTC, timezone(timedelta(hours=-4)), timezone(timedelta(hours=5, minutes=30))])
_when = st.none() | st.datetimes(timezones=_zones)
orders = st.builds(
    Order,
    id=_text,
    reference=_opt_text,
    state=_text,
    lines=st.lists(_line, max_size=3),
    totals=st.none()
    | st.builds(
        OrderTotals, subtotal=st.none() | _money, shipping=st.none() | _money, tax=st.none() | _money, total=_money
    ),
    shipping_address=st.none() | _address,
    created_at=_when,
    updated_at=_when,
    extra=_extra,
)


@settings(max_examples=200)
@given(orders)
def test_an_order_survives_json(order: Order) -> None:
    assert order_from_jsonable(json.loads(json.dumps(to_jsonable(order)))) == order


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "order: must be an object, got an array"),
        ({"state": "SUBMITTED"}, "id: is required"),
        ({"id": "o1", "state": "x", "created_at": "yesterday"}, "created_at: must be an ISO 8601 date and time"),
        ({"id": "o1", "state": "x", "created_at": "2026-01-01T00:00:00"}, "order: created_at must be timezone-aware"),
        ({"id": "o1", "state": "x", "totals": {"tax": None}}, "totals.total: is required"),
    ],
)
def test_a_malformed_order_names_the_field(data: Any, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        order_from_jsonable(data)
    assert str(caught.value).startswith(expected)


# --------------------------------------------------------------------------- cursors

cursors = st.builds(TokenCursor, token=_text) | st.builds(
    OffsetCursor, offset=st.integers(min_value=0, max_value=2**40), limit=st.integers(min_value=1, max_value=10**4)
)


@given(cursors)
def test_a_cursor_survives_its_text_form(cursor: TokenCursor | OffsetCursor) -> None:
    text = cursor_to_str(cursor)
    assert text.startswith("c1.")
    assert text.isascii()
    assert " " not in text
    assert cursor_from_str(text) == cursor


@given(st.text(max_size=40))
def test_arbitrary_text_is_never_a_cursor_by_accident(text: str) -> None:
    problem: InputError | None = None
    try:
        cursor = cursor_from_str(text)
    except InputError as exc:
        problem = exc
    else:
        assert cursor_to_str(cursor) == text.rstrip("=")
    assert problem is None or problem.path == "cursor"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "c1.",
        "c2.eyJ0IjoiYSJ9",
        "c1.!!!!",
        "c1." + "eyJ0IjoxfQ",  # {"t":1}
        "c1." + "eyJvIjotMSwibCI6MX0",  # {"o":-1,"l":1}
        "c1." + "eyJvIjp0cnVlLCJsIjoxfQ",  # {"o":true,"l":1}
        "c1." + "eyJ0IjoiYSIsIngiOjF9",  # {"t":"a","x":1}
        "c1." + "WzFd",  # [1]
        "c1." + "_w",  # not UTF-8
    ],
)
def test_a_damaged_cursor_is_refused(text: str) -> None:
    with pytest.raises(InputError, match=r"^cursor: is not a storelink page cursor$"):
        cursor_from_str(text)


# --------------------------------------------------------------------------- JSON Lines


def old_line(model: object) -> bytes:
    """The sync writer's line before encode_line: the standard library's bytes."""
    return json.dumps(to_jsonable(model), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


# Any text (control characters, quotes, backslashes, non-ASCII, astral), but lone surrogates.
_any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=10)
_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()  # NaN, infinities, -0.0, 1e16: written as json.dumps writes them
    | st.decimals()  # NaN and sNaN too: a Decimal is written as its str
    | _any_text
)
_wild_json = st.recursive(
    _leaf,
    lambda children: (
        st.lists(children, max_size=3) | st.tuples(children) | st.dictionaries(_any_text, children, max_size=3)
    ),
    max_leaves=8,
)
_wild_extra = st.dictionaries(_any_text, _wild_json, max_size=4)
_image = st.builds(
    Image,
    url=st.from_regex(r"https://[a-z]{1,8}\.example/[^\s]{0,8}", fullmatch=True),
    alt=st.none() | _any_text,
    role=st.none() | st.just("primary"),
)
_variant = st.builds(
    Variant,
    id=st.text(min_size=1, max_size=8),
    sku=st.none() | _any_text,
    title=st.none() | _any_text,
    price=st.none() | _money,
    sale_price=st.none() | _money,
    barcode=st.none() | _any_text,
    active=st.booleans(),
    options=st.dictionaries(_any_text, _any_text, max_size=2),
    images=st.lists(_image, max_size=2),
    extra=_wild_extra,
)
products = st.builds(
    Product,
    id=st.text(min_size=1, max_size=8),
    title=_any_text,
    description=st.none() | _any_text,
    url=st.none() | _any_text,
    active=st.booleans(),
    brand=st.none() | _any_text,
    price=st.none() | _money,
    sale_price=st.none() | _money,
    variants=st.lists(_variant, max_size=3),
    images=st.lists(_image, max_size=3),
    categories=st.lists(_any_text, max_size=3),
    created_at=_when,
    extra=_wild_extra,
)


@settings(max_examples=300)
@given(products)
def test_encode_line_writes_a_product_byte_for_byte_as_before(product: Product) -> None:
    assert encode_line(product) == old_line(product)


@given(orders | drafts)
def test_encode_line_writes_orders_and_drafts_byte_for_byte_as_before(model: Order | OrderDraft) -> None:
    assert encode_line(model) == old_line(model)


def test_encode_line_writes_special_types_as_to_jsonable_does() -> None:
    """Enums, sets, secrets, store URLs and repr-hidden fields: as the standard library writes them."""
    info = PlatformInfo(
        slug="demo",
        title="Démo",
        credential_schema=CredentialSchema(fields=(CredentialField(name="key", label="Key", secret=True),)),
        capabilities=frozenset({Capability.ORDERS, Capability.PRODUCTS}),
    )
    token = AccessToken(value=Secret("s3cr3t-value"), expires_in=1.5)
    report = AccessReport(checks=(CapabilityCheck(capability=Capability.ORDERS, ok=False, detail="nope"),))
    for model in (info, token, report, StoreURL(origin="https://a.example.com"), Money(amount="1E+3", currency="EUR")):
        assert encode_line(model) == old_line(model)
    assert b"s3cr3t" not in encode_line(token)


@frozen(kw_only=True)
class _Shadowing:
    """A model whose field names are those of the generated line encoder's own names and of builtins."""

    _sl_value: str = "v"
    _sl_0: Decimal = Decimal("1.50")
    _sl_plain: tuple[int, ...] = (1, 2)
    _sl_encoder: dict[str, Any] = field(factory=lambda: {"k": [Decimal("2.0"), None]})
    type: str = "t"
    hidden: str = field(default="s3cr3t", repr=False)


def test_encode_line_is_not_confused_by_field_names_of_its_generated_code() -> None:
    model = _Shadowing()
    assert encode_line(model) == old_line(model)
    assert encode_line(model).startswith(b'{"_sl_value":"v","_sl_0":"1.50","_sl_plain":[1,2],')
    assert b"s3cr3t" not in encode_line(model)


def test_encode_line_refuses_what_to_jsonable_refuses() -> None:
    with pytest.raises(TypeError, match="attrs model"):
        encode_line({"id": "p1"})
    with pytest.raises(TypeError, match="no JSON form"):
        encode_line(Product(id="p1", title="t", extra={"when": object()}))
    with pytest.raises(UnicodeEncodeError):
        encode_line(Product(id="p1", title="\ud800"))


@settings(max_examples=100)
@given(st.lists(products | orders | drafts, max_size=6))
def test_encode_lines_writes_each_model_as_the_old_lines(models: list[Product | Order | OrderDraft]) -> None:
    """A page of models, of one class or mixed, in one call: the old lines, joined."""
    assert encode_lines(models) == b"".join(old_line(m) for m in models)
    assert encode_lines(iter(models)) == b"".join(map(encode_line, models))


def test_encode_lines_walks_nested_dicts_and_sequences_as_to_jsonable_does() -> None:
    """Non-text keys, floats, sets and models inside dicts, lists, tuples and named tuples."""
    extra = {
        "deep": {2: {"x": 1.5, None: [Decimal("2.50"), (1, "a", None)]}, True: frozenset({"b", "a"})},
        "leaves": ("a", 1, True, None, Decimal("0.1")),
        "floats": [1e16, float("nan"), -0.0],
        "models": [Money(amount="3.0", currency="EUR"), {"m": (Money(amount="4", currency="USD"),)}],
        "named": collections.namedtuple("Pair", "a b")(1, {"k": 2.5}),
    }
    model = Product(id="p1", title="Démo", categories=("c1", "c2"), extra=extra)
    assert encode_lines([model, model]) == old_line(model) * 2
    assert b'"2":{"x":1.5,"None":["2.50",[1,"a",null]]},"True":["a","b"]' in encode_lines([model])


def test_encode_lines_refuses_what_encode_line_refuses() -> None:
    assert encode_lines([]) == b""
    with pytest.raises(TypeError, match="attrs model, got dict"):
        encode_lines([Product(id="p1", title="t"), {"id": "p2"}])
    with pytest.raises(TypeError, match="no JSON form"):
        encode_lines([Product(id="p1", title="t", extra={"deep": {"when": object()}})])
    with pytest.raises(UnicodeEncodeError):
        encode_lines([Product(id="p1", title="t"), Product(id="p2", title="\ud800")])
