"""Typed settings: a ``SettingsSchema`` parsed once per connection, one translation of a refused setting."""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest
from attrs import field, frozen

from storelink import (
    Capability,
    ConfigurationError,
    CredentialField,
    CredentialSchema,
    CredentialsError,
    PlatformContext,
    PlatformInfo,
    Registry,
    SettingsSchema,
    StoreURL,
    hookimpl,
    to_jsonable,
)
from storelink.credentials import Credentials
from storelink.hub import Hub

from .conftest import ORIGIN, FakeShop, FakeShopPlatform


def _digits(value: str) -> None:
    if not value.isdigit():
        raise CredentialsError("The page size must be a number", field="page_size")


def _bounded(value: int) -> int:
    number = int(value)
    if number > 500:
        raise ValueError("the page size is at most 500")
    return number


@frozen(kw_only=True)
class ShopSettings:
    site: str | None = None
    page_size: int = field(default=100, converter=_bounded)
    reference: str = field(default="ref", alias="reference_property")


SCHEMA = SettingsSchema(
    model=ShopSettings,
    fields=(
        CredentialField(name="site", label="Site", required=False),
        CredentialField(name="page_size", label="Page size", required=False, validator=_digits),
        CredentialField(name="reference_property", label="Reference property", required=False),
    ),
)


def context(settings: dict[str, str]) -> PlatformContext:
    return PlatformContext(
        connection_id="c1",
        platform="shop",
        store_url=StoreURL(origin="https://shop.example.com"),
        credentials=Credentials({}),
        settings=settings,
        http=None,  # type: ignore[arg-type]  # no request is made
    )


def test_unset_settings_take_the_models_defaults() -> None:
    assert SCHEMA.load({}) == ShopSettings()
    assert SCHEMA.load({"site": "  eu  ", "page_size": ""}) == ShopSettings(site="eu")


def test_settings_are_converted_to_their_types_and_matched_by_alias() -> None:
    loaded = SCHEMA.load({"page_size": "250", "reference_property": "x_ref"})
    assert (loaded.page_size, loaded.reference) == (250, "x_ref")


@pytest.mark.parametrize(
    ("values", "message", "field"),
    [
        (
            {"colour": "red"},
            "unknown setting 'colour'; expected one of ['site', 'page_size', 'reference_property']",
            "colour",
        ),
        ({"page_size": "many"}, "setting 'page_size': The page size must be a number", "page_size"),
        ({"page_size": "900"}, "the settings are not valid (ValueError: the page size is at most 500)", None),
    ],
)
def test_a_refused_setting_is_one_configuration_error_naming_the_setting(
    values: dict[str, str], message: str, field: str | None
) -> None:
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$") as caught:
        SCHEMA.load(values)
    assert not isinstance(caught.value, CredentialsError)
    assert caught.value.field == field  # the model's own refusal names no single setting


def test_a_configuration_error_names_no_setting_unless_given_one() -> None:
    assert ConfigurationError("bad key ring").field is None
    assert ConfigurationError("bad", field="site").field == "site"


def test_a_plain_credential_schema_checks_settings_the_same_way() -> None:
    plain = CredentialSchema(fields=(CredentialField(name="site", label="Site", required=False),))
    assert plain.check_settings({"site": " eu "}) == {"site": "eu"}
    with pytest.raises(ConfigurationError, match=r"^unknown setting 'colour'"):
        plain.check_settings({"colour": "red"})
    secret = CredentialSchema(fields=(CredentialField(name="token", label="Token", secret=True, required=False),))
    with pytest.raises(CredentialsError, match="declared secret"):
        secret.check_settings({"token": "abc"})


def test_typed_settings_parse_once_per_context(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[Any] = []
    original = SettingsSchema.load

    def counting(self: SettingsSchema[Any], values: Any) -> Any:
        loads.append(values)
        return original(self, values)

    monkeypatch.setattr(SettingsSchema, "load", counting)
    ctx = context({"page_size": "20"})
    first = ctx.typed_settings(SCHEMA)
    assert first.page_size == 20
    assert all(ctx.typed_settings(SCHEMA) is first for _ in range(5))
    assert len(loads) == 1
    other = context({})
    assert other.typed_settings(SCHEMA).page_size == 100
    assert len(loads) == 2


def test_invalid_settings_fail_every_use_until_fixed() -> None:
    ctx = context({"page_size": "lots"})
    for _ in range(2):
        with pytest.raises(ConfigurationError, match="setting 'page_size'"):
            ctx.typed_settings(SCHEMA)


def test_the_schema_refuses_a_model_that_does_not_fit_its_fields() -> None:
    with pytest.raises(ValueError, match=r"ShopSettings has no attribute \(or alias\) for the settings \['region'\]"):
        SettingsSchema(model=ShopSettings, fields=(CredentialField(name="region", label="Region", required=False),))
    with pytest.raises(TypeError, match="must be an attrs class"):
        SettingsSchema(model=dict, fields=())
    with pytest.raises(ValueError, match="settings are never secret"):
        SettingsSchema(
            model=ShopSettings, fields=(CredentialField(name="site", label="Site", secret=True, required=False),)
        )


def test_the_json_schema_shows_the_defaults() -> None:
    exported = SCHEMA.to_json_schema()
    assert exported["properties"]["page_size"]["default"] == 100
    assert exported["properties"]["reference_property"]["default"] == "ref"
    assert "default" not in exported["properties"]["site"]  # None: no default to show
    assert exported["required"] == []


def test_a_platform_info_with_typed_settings_has_a_json_form() -> None:
    """``storelink platforms --json`` exports the fields; the model class is left out."""
    info = PlatformInfo(
        slug="shop",
        title="Shop",
        credential_schema=CredentialSchema(fields=()),
        capabilities={Capability.PRODUCTS},
        settings_schema=SCHEMA,
    )
    exported = to_jsonable(info)["settings_schema"]
    assert [f["name"] for f in exported["fields"]] == ["site", "page_size", "reference_property"]
    assert "model" not in exported


# --------------------------------------------------------------------------- through the hub


def _site(value: str | None) -> str | None:
    if value == "nowhere":
        raise ValueError("there is no site 'nowhere'")
    return value


@frozen(kw_only=True)
class SiteSettings:
    site: str | None = field(default=None, converter=_site)


class TypedShopPlatform(FakeShopPlatform):
    """The fake shop, with its settings declared typed."""

    @hookimpl
    def platform_info(self) -> PlatformInfo:
        schema = SettingsSchema(
            model=SiteSettings, fields=(CredentialField(name="site", label="Site", required=False),)
        )
        return attrs.evolve(super().platform_info(), settings_schema=schema)


@pytest.fixture
def registry() -> Registry:
    registry = Registry(autoload=False)
    registry.register_platform(TypedShopPlatform())
    return registry


async def test_the_hub_refuses_settings_the_typed_model_refuses(hub: Hub, shop: FakeShop) -> None:
    """Checked at connect, before anything is stored, not at the connection's first hook."""
    with pytest.raises(ConfigurationError, match=r"there is no site 'nowhere'"):
        await hub.connect("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key}, settings={"site": "nowhere"})
    assert await hub.connections() == []
    conn = await hub.connect("fakeshop", store_url=ORIGIN, credentials={"api_key": shop.key}, settings={"site": "eu"})
    assert dict(conn.settings) == {"site": "eu"}
