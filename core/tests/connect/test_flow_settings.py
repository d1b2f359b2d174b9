"""The connect flow checks settings with the core's one check, so it refuses them as the hub does."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from storelink import ConfigurationError, CredentialField, CredentialSchema, CredentialsError
from storelink.connect.failures import Failure
from storelink.connect.flow import Onboarding
from storelink.keyonboarding import check_settings
from storelink.models import Capability, PlatformInfo, StoreURL
from storelink.plugins import Platform


def _digits(value: str) -> None:
    if not value.isdigit():
        raise CredentialsError("Page size must be a number", field="page_size")


INFO = PlatformInfo(
    slug="shop",
    title="Shop",
    credential_schema=CredentialSchema(fields=()),
    capabilities={Capability.PRODUCTS},
    settings_schema=CredentialSchema(
        fields=(CredentialField(name="page_size", label="Page size", required=False, validator=_digits),)
    ),
)


class NoHub:
    """A hub the flow must not reach: the settings are refused before any call."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the flow called hub.{name}")


@pytest.mark.parametrize(("settings", "field"), [({"zone": "1"}, "zone"), ({"page_size": "lots"}, "page_size")])
async def test_the_page_refuses_a_setting_with_the_hubs_message(settings: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        check_settings(INFO, settings)
    flow = Onboarding(cast(Any, NoHub()))
    platform = cast(Platform, SimpleNamespace(info=INFO))
    failure = await flow.connect(platform, StoreURL(origin="https://shop.example.com"), {}, settings)
    assert failure == Failure(code="invalid_settings", message=raised.value.message, field=field)
