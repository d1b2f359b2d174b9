"""Channels: the sales channels that send merchants to the connect page.

An operator registers each channel with the exact redirect URIs it may be sent back
to. A connect session names one of them, and it must be byte-for-byte equal to a
registered entry: no prefix matching, no normalisation, never a free-form return URL
(RFC 9700 section 4.1). On success the merchant's browser is redirected to the
*registered* string, with the connection id and the channel's ``state`` appended as
properly encoded query parameters.

Channels are loaded from a TOML file (:func:`load_channels`)::

    [[channel]]
    id = "acme"
    name = "Acme Marketplace"
    redirect_uris = ["https://acme.example/storelink/callback"]
    platforms = ["occ"]                 # optional: every installed platform otherwise
    api_token_sha256 = "9f86d08...0a08" # sha256 of the channel's API token, hex

    [channel.apps.someplatform]         # the channel's app on an OAuth platform
    client_id = "1f2e3d..."
    client_secret = { env = "ACME_SOMEPLATFORM_SECRET" }

A top-level ``[apps.<platform>]`` table gives the deployment's app to every channel
that has none of its own on that platform. The file holds only the token's hash and
no secret value: secret app fields come from the environment or a file
(:func:`storelink.onboarding.parse_app_values`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from attrs import field, frozen

from storelink.credentials import Secret
from storelink.errors import ConfigurationError
from storelink.onboarding import parse_app_values

__all__ = [
    "DEVELOPMENT_CHANNEL_ID",
    "Channel",
    "check_redirect_uri",
    "hash_token",
    "load_channels",
    "redirect_location",
]

DEVELOPMENT_CHANNEL_ID = "development"

_CHANNEL_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_TOKEN_HASH = re.compile(r"[0-9a-f]{64}")
_URI_CHARS = re.compile(r"[!#$%&'()*+,\-./0-9:;=?@A-Z\[\]_a-z~]+")
_LOOPBACK_NAMES = frozenset({"localhost"})


def hash_token(token: str) -> str:
    """Return the hex sha256 of a channel API token, as ``api_token_sha256`` stores it."""
    return hashlib.sha256(token.encode()).hexdigest()


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str) -> None:
    """Refuse a redirect URI an operator should not register.

    It must be an absolute ``https`` URL (``http`` only on a loopback host), printable
    ASCII with no spaces, with a host, no userinfo and no fragment.

    :raises ValueError: Naming the problem.
    """
    if not isinstance(uri, str) or not _URI_CHARS.fullmatch(uri):
        raise ValueError(f"redirect URI {uri!r} must be printable ASCII without spaces")
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname or not uri.startswith(f"{parts.scheme}://"):
        raise ValueError(f"redirect URI {uri!r} must be an absolute https URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"redirect URI {uri!r} must use https (http only on a loopback host)")
    if "@" in parts.netloc:
        raise ValueError(f"redirect URI {uri!r} must not contain userinfo")
    if parts.fragment or "#" in uri:
        raise ValueError(f"redirect URI {uri!r} must not contain a fragment")


def _check_redirect_uris(_inst: object, _attr: object, value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("a channel needs at least one redirect URI")
    for uri in value:
        check_redirect_uri(uri)


def _check_id(_inst: object, _attr: object, value: str) -> None:
    if not _CHANNEL_ID.fullmatch(value):
        raise ValueError(f"channel id {value!r} must match {_CHANNEL_ID.pattern}")


def _check_token_hash(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and not _TOKEN_HASH.fullmatch(value):
        raise ValueError("api_token_sha256 must be 64 lower-case hex digits (see storelink.connect.hash_token)")


def _tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _optional_tuple(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _apps(value: Mapping[str, Mapping[str, str | Secret]]) -> dict[str, dict[str, str | Secret]]:
    return {slug: dict(values) for slug, values in value.items()}


@frozen(kw_only=True)
class Channel:
    """A sales channel registered by the operator.

    :param id: Short machine name (``acme``).
    :param name: What the merchant reads (``Acme Marketplace``).
    :param redirect_uris: The exact URIs the merchant may be sent back to.
    :param platforms: The platform slugs the channel offers; ``None`` for all installed.
    :param api_token_sha256: Hex sha256 of the bearer token the channel's server sends
        to the JSON API; ``None`` when the channel does not use the API.
    :param apps: The channel's app credentials by OAuth platform slug (client id,
        client secret as :class:`~storelink.Secret`); never shown to merchants.
    """

    id: str = field(validator=_check_id)
    name: str
    redirect_uris: tuple[str, ...] = field(converter=_tuple, validator=_check_redirect_uris)
    platforms: tuple[str, ...] | None = field(default=None, converter=_optional_tuple)
    api_token_sha256: str | None = field(default=None, validator=_check_token_hash, repr=False)
    apps: Mapping[str, Mapping[str, str | Secret]] = field(factory=dict, converter=_apps, repr=False, eq=False)

    @classmethod
    def development(cls, base_url: str) -> Channel:
        """Return the local channel used when none is configured.

        Its one redirect URI is the ``/connected`` page the connect app serves itself.

        :param base_url: Where the app is served (``http://127.0.0.1:8000``).
        """
        return cls(
            id=DEVELOPMENT_CHANNEL_ID,
            name="Local development",
            redirect_uris=(base_url.rstrip("/") + "/connected",),
        )

    def allows_platform(self, slug: str) -> bool:
        """Whether the channel offers platform *slug*."""
        return self.platforms is None or slug in self.platforms

    def registered_redirect(self, uri: object) -> str | None:
        """Return the registered URI equal to *uri*, or ``None`` if there is none."""
        if not isinstance(uri, str):
            return None
        for registered in self.redirect_uris:
            if registered == uri:
                return registered
        return None

    def app_values(self, slug: str) -> Mapping[str, str | Secret] | None:
        """Return the channel's configured app credentials on platform *slug*, if any."""
        return self.apps.get(slug)

    def accepts_token(self, token: str) -> bool:
        """Whether *token* is this channel's API token (constant-time)."""
        if self.api_token_sha256 is None:
            return False
        return hmac.compare_digest(hash_token(token), self.api_token_sha256)


def redirect_location(uri: str, *, connection_id: str, state: str) -> str:
    """Return *uri* with ``connection_id`` and ``state`` appended to its query.

    The registered URI's own query is kept as it is; the two parameters are
    percent-encoded (a space as ``%20``), so no value can add a parameter, a fragment
    or a header line.
    """
    query = urlencode({"connection_id": connection_id, "state": state}, quote_via=quote)
    separator = "&" if urlsplit(uri).query else ("" if uri.endswith("?") else "?")
    return f"{uri}{separator}{query}"


def load_channels(path: str | Path) -> list[Channel]:
    """Read the ``[[channel]]`` tables of the TOML file at *path*, with their app credentials.

    :raises ConfigurationError: The file is missing, is not TOML, a channel is invalid
        (the message names it), or an app secret's variable or file is missing.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read channels from {path}: {exc}") from exc
    tables = data.get("channel", [])
    if not isinstance(tables, list):
        raise ConfigurationError(f"{path}: 'channel' must be an array of tables ([[channel]])")
    deployment = parse_app_values(data.get("apps", {}), where=str(path))
    channels: list[Channel] = []
    for i, table in enumerate(tables):
        where = f"{path}: channel {i + 1}"
        if not isinstance(table, dict):
            raise ConfigurationError(f"{where}: must be a table")
        own = parse_app_values(table.get("apps", {}), where=where)
        try:
            channels.append(Channel(**{**table, "apps": {**deployment, **own}}))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: {exc}") from exc
    ids = [c.id for c in channels]
    if len(set(ids)) != len(ids):
        raise ConfigurationError(f"{path}: duplicate channel ids in {ids}")
    return channels
