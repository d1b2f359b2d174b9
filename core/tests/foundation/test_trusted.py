"""Trusted constructors: models built without validators equal the validated ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import Image, InventoryLevel, Money, Product, Variant
from storelink.models import trusted_constructor

_text = st.text(max_size=8)
_money = st.builds(
    Money,
    amount=st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=10**6),
    currency=st.from_regex(r"[A-Z]{3}", fullmatch=True),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_extra = st.dictionaries(_text, _json, max_size=3)
_image = st.fixed_dictionaries(
    {"url": st.from_regex(r"https://[a-z]{1,8}\.example/[a-z0-9]{0,8}", fullmatch=True)},
    optional={"alt": st.none() | _text, "role": st.none() | st.just("primary")},
)
_variant = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8)},
    optional={
        "sku": st.none() | _text,
        "title": st.none() | _text,
        "price": st.none() | _money,
        "sale_price": st.none() | _money,
        "barcode": st.none() | _text,
        "active": st.booleans(),
        "options": st.dictionaries(_text, _text, max_size=2),
        "images": st.lists(_image, max_size=2),
        "extra": _extra,
    },
)
_product = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8), "title": _text},
    optional={
        "description": st.none() | _text,
        "url": st.none() | _text,
        "active": st.booleans(),
        "brand": st.none() | _text,
        "price": st.none() | _money,
        "sale_price": st.none() | _money,
        "variants": st.lists(_variant, max_size=3),
        "images": st.lists(_image, max_size=3),
        "categories": st.lists(_text, max_size=3),
        "created_at": st.none()
        | st.datetimes(timezones=st.sampled_from([UTC])).map(lambda d: d.replace(microsecond=0)),
        "extra": _extra,
    },
)


def _final(values: dict[str, Any]) -> dict[str, Any]:
    """Return *values* in their final form, as a mapping hands them to a trusted constructor."""
    final = dict(values)
    for key in ("options", "extra"):
        if key in final:
            final[key] = MappingProxyType(dict(final[key]))
    for key in ("images", "categories"):
        if key in final:
            final[key] = tuple(final[key])
    if "images" in final:
        final["images"] = tuple(_trusted_image(**i) for i in final["images"])
    if "variants" in final:
        final["variants"] = tuple(_trusted_variant(**_final(v)) for v in final["variants"])
    return final


def _validated(values: dict[str, Any]) -> dict[str, Any]:
    """Return *values* as a validated constructor takes them (lists, dicts, nested models built)."""
    built = dict(values)
    if "images" in built:
        built["images"] = [Image(**i) for i in built["images"]]
    if "variants" in built:
        built["variants"] = [Variant(**_validated(v)) for v in built["variants"]]
    return built


_trusted_product = trusted_constructor(Product)
_trusted_variant = trusted_constructor(Variant)
_trusted_image = trusted_constructor(Image)


@given(_product)
def test_a_trusted_product_equals_the_validated_one(values: dict[str, Any]) -> None:
    """For valid values, the trusted constructor builds what the validators would accept, field for field."""
    trusted = _trusted_product(**_final(values))
    validated = Product(**_validated(values))
    assert trusted == validated
    assert repr(trusted) == repr(validated)
    for a in attrs.fields(Product):
        assert type(getattr(trusted, a.name)) is type(getattr(validated, a.name)), a.name
    assert attrs.evolve(trusted) == trusted  # re-running every validator on it accepts it


def test_left_out_fields_take_their_defaults() -> None:
    trusted = _trusted_variant(id="s1")
    assert trusted == Variant(id="s1")
    assert isinstance(trusted.extra, MappingProxyType)
    assert trusted.images == ()


def test_a_missing_or_unknown_field_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'id'"):
        _trusted_product(title="t")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        _trusted_product(id="p1", title="t", colour="red")


def test_a_trusted_model_stays_frozen() -> None:
    product = _trusted_product(id="p1", title="t")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        product.title = "changed"  # type: ignore[misc]


def test_a_factory_without_converter_gives_each_model_its_own_value() -> None:
    @attrs.frozen(kw_only=True)
    class Basket:
        items: list[str] = attrs.field(factory=list)

    build = trusted_constructor(Basket)
    first, second = build(), build()
    assert first.items == []
    assert first.items is not second.items


def test_only_attrs_classes_have_trusted_constructors() -> None:
    with pytest.raises(TypeError, match="attrs model class"):
        trusted_constructor(dict)


def test_the_validated_constructor_still_refuses_bad_values() -> None:
    """Trusted construction is opt-in: the public constructors keep every check."""
    with pytest.raises(ValueError, match="must not be negative"):
        Product(id="p1", title="t", price=Money(amount=Decimal("-1"), currency="USD"))
    with pytest.raises(ValueError, match="timezone-aware"):
        Product(id="p1", title="t", created_at=datetime(2024, 1, 1) + timedelta(0))
    with pytest.raises(ValueError, match="available"):
        InventoryLevel(sku_id="s1", available=-1)
