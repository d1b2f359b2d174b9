"""Channels: registration rules, exact matching, the redirect location, the TOML file."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storelink import ConfigurationError
from storelink.connect import Channel, hash_token, load_channels, redirect_location


@pytest.mark.parametrize(
    "uri",
    [
        "http://chan.example.com/cb",
        "https://chan.example.com/cb#frag",
        "https://user@chan.example.com/cb",
        "https:chan.example.com/cb",
        "//chan.example.com/cb",
        "/cb",
        "https://chan.example.com/c b",
        "https://chän.example.com/cb",
        "https://chan.example.com/cb\r\n",
        "javascript:alert(1)",
        "ftp://chan.example.com/cb",
        "https://chan.example.com\\cb",
        "http://10.0.0.1/cb",
    ],
)
def test_an_unsafe_redirect_uri_cannot_be_registered(uri: str) -> None:
    with pytest.raises(ValueError, match="redirect URI"):
        Channel(id="c", name="C", redirect_uris=(uri,))


@pytest.mark.parametrize(
    "uri",
    ["https://chan.example.com/cb", "https://chan.example.com/cb?tenant=7", "http://127.0.0.1:9/cb", "http://[::1]:9/"],
)
def test_safe_redirect_uris_can_be_registered(uri: str) -> None:
    assert Channel(id="c", name="C", redirect_uris=[uri]).redirect_uris == (uri,)


def test_a_channel_needs_a_redirect_uri_and_a_plain_id() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Channel(id="c", name="C", redirect_uris=())
    with pytest.raises(ValueError, match="channel id"):
        Channel(id="C D", name="C", redirect_uris=("https://c.example/cb",))
    with pytest.raises(ValueError, match="api_token_sha256"):
        Channel(id="c", name="C", redirect_uris=("https://c.example/cb",), api_token_sha256="plain-token")


def test_registered_redirect_matches_exactly() -> None:
    channel = Channel(id="c", name="C", redirect_uris=("https://c.example/cb", "https://c.example/cb2"))
    assert channel.registered_redirect("https://c.example/cb2") == "https://c.example/cb2"
    assert channel.registered_redirect("https://c.example/cb/") is None
    assert channel.registered_redirect("https://C.example/cb") is None
    assert channel.registered_redirect(None) is None


def test_the_api_token_is_checked_against_its_hash() -> None:
    channel = Channel(id="c", name="C", redirect_uris=("https://c.example/cb",), api_token_sha256=hash_token("t0k"))
    assert channel.accepts_token("t0k")
    assert not channel.accepts_token("t0K")
    assert not Channel(id="d", name="D", redirect_uris=("https://c.example/cb",)).accepts_token("t0k")
    assert "api_token" not in repr(channel)


def test_platforms_filter_what_a_channel_offers() -> None:
    channel = Channel(id="c", name="C", redirect_uris=("https://c.example/cb",), platforms=["occ"])
    assert channel.allows_platform("occ")
    assert not channel.allows_platform("shop")
    assert Channel(id="d", name="D", redirect_uris=("https://c.example/cb",)).allows_platform("shop")


def test_the_development_channel_returns_to_the_app_itself() -> None:
    channel = Channel.development("http://127.0.0.1:8000/")
    assert channel.redirect_uris == ("http://127.0.0.1:8000/connected",)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://c.example/cb", "https://c.example/cb?connection_id=conn%201&state=a%26b%3Dc%23d"),
        ("https://c.example/cb?t=7", "https://c.example/cb?t=7&connection_id=conn%201&state=a%26b%3Dc%23d"),
        ("https://c.example/cb?", "https://c.example/cb?connection_id=conn%201&state=a%26b%3Dc%23d"),
    ],
)
def test_the_redirect_location_appends_encoded_parameters(uri: str, expected: str) -> None:
    assert redirect_location(uri, connection_id="conn 1", state="a&b=c#d") == expected


@given(state=st.text(min_size=1), connection_id=st.text(min_size=1))
def test_the_redirect_location_round_trips_any_value(state: str, connection_id: str) -> None:
    location = redirect_location("https://c.example/cb?t=7", connection_id=connection_id, state=state)
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("https", "c.example", "/cb", "")
    assert all(ch.isascii() and ch.isprintable() and ch != " " for ch in location)
    query = parse_qs(parts.query, keep_blank_values=True)
    assert query == {"t": ["7"], "connection_id": [connection_id], "state": [state]}


def test_channels_load_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(
        f"""
[[channel]]
id = "acme"
name = "Acme Marketplace"
redirect_uris = ["https://acme.example/storelink/callback"]
platforms = ["occ"]
api_token_sha256 = "{hash_token("secret")}"

[[channel]]
id = "beta"
name = "Beta"
redirect_uris = ["https://beta.example/cb"]
"""
    )
    acme, beta = load_channels(path)
    assert acme.platforms == ("occ",)
    assert acme.accepts_token("secret")
    assert beta.platforms is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[channel]\n", "cannot read channels"),
        ('channel = "x"', "array of tables"),
        ('[[channel]]\nid = "a"\nname = "A"\nredirect_uris = ["http://a.example/cb"]', "channel 1: redirect URI"),
        ('[[channel]]\nid = "a"\nname = "A"\nredirect_uris = ["https://a.example/cb"]\ncolour = "red"', "channel 1:"),
        (
            '[[channel]]\nid = "a"\nname = "A"\nredirect_uris = ["https://a.example/cb"]\n'
            '[[channel]]\nid = "a"\nname = "B"\nredirect_uris = ["https://b.example/cb"]',
            "duplicate channel ids",
        ),
    ],
)
def test_a_bad_channels_file_is_a_configuration_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_channels(path)


def test_a_missing_channels_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read channels"):
        load_channels(tmp_path / "nope.toml")
