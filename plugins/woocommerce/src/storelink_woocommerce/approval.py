"""WooCommerce's key-approval flow (``wc-auth``), as the core's approval flow.

The channel sends the merchant to ``{store}/wc-auth/v1/authorize`` with its name
(``app_name``), the permission (``scope``), an id of its own (``user_id``: the core's
state), the browser's ``return_url`` and the ``callback_url`` the keys go to. Once the
merchant approves, WooCommerce POSTs ``{key_id, user_id, consumer_key,
consumer_secret, key_permissions}`` as JSON to ``callback_url`` (which must be https),
then redirects the browser to ``return_url`` with ``success=1&user_id=...``
(``success=0`` when the merchant declined).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from storelink import Credentials, CredentialsError, Secret, StoreURL
from storelink_woocommerce.credentials import APPROVAL, CONSUMER_KEY, CONSUMER_SECRET

__all__ = ["APPROVAL", "AUTHORIZE_PATH", "authorization_url", "credentials_from_delivery"]

#: The approval page, under the store's install path.
AUTHORIZE_PATH = "/wc-auth/v1/authorize"


def authorization_url(
    store_url: StoreURL, *, app_name: str, scope: str, state: str, return_url: str, callback_url: str
) -> str:
    """Return the store's approval URL for the channel *app_name*."""
    query = urlencode(
        {
            "app_name": app_name,
            "scope": scope,
            "user_id": state,
            "return_url": return_url,
            "callback_url": callback_url,
        }
    )
    return f"{store_url.join(AUTHORIZE_PATH)}?{query}"


def credentials_from_delivery(body: Mapping[str, object]) -> tuple[str, Credentials]:
    """Return the state (``user_id``) and the key WooCommerce POSTed.

    :raises CredentialsError: A field is missing or not text (the message names the
        field, never its value).
    """
    values: dict[str, str] = {}
    for name in ("user_id", CONSUMER_KEY, CONSUMER_SECRET):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and name == "user_id":
            value = str(value)
        if not isinstance(value, str) or not value:
            raise CredentialsError(f"the delivery has no {name}", field=name)
        values[name] = value
    return values["user_id"], Credentials(
        {CONSUMER_KEY: Secret(values[CONSUMER_KEY]), CONSUMER_SECRET: Secret(values[CONSUMER_SECRET])}
    )
