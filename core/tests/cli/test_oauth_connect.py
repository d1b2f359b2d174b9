"""``storelink connect`` for a platform that onboards with OAuth: loopback listener or pasted callback."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from storelink import Registry, plugins
from storelink.cli import cli
from storelink.simulation import serve_in_thread

from ..connect.oauth_platform import CLIENT_ID, CLIENT_SECRET, OAuthPlatform, OAuthShop
from .conftest import Cli, one_line_error


class Merchant:
    """Plays the browser: told the authorization URL, it approves (or declines) at the platform."""

    def __init__(self, shop: OAuthShop, *, decline: bool = False, deliver: bool = True) -> None:
        self.shop = shop
        self.decline = decline
        self.deliver = deliver
        self.urls: list[str] = []
        self.callbacks: list[str] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str) -> bool:
        self.urls.append(url)
        callback = self.shop.decline(url) if self.decline else self.shop.approve(url)
        self.callbacks.append(callback)
        if self.deliver:
            thread = threading.Thread(target=lambda: httpx.get(callback, timeout=10))
            thread.start()
            self.threads.append(thread)
        return True


class Pasted(io.RawIOBase):
    """Stdin whose line is the callback the merchant's browser ended on, known only once it is read."""

    def __init__(self, merchant: Merchant) -> None:
        self.merchant = merchant
        self.data: bytes | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.data is None:
            self.data = (self.merchant.callbacks[-1] + "\n").encode()
        chunk, self.data = self.data[: len(buffer)], self.data[len(buffer) :]
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture
def shop(env: dict[str, str]) -> Iterator[OAuthShop]:
    """The OAuth platform's store on loopback, and the platform registered as the CLI's."""
    shop = OAuthShop("http://127.0.0.1")
    with serve_in_thread(shop.asgi) as url:
        shop.origin = url
        registry = Registry(autoload=False)
        registry.register_platform(OAuthPlatform(), slug="oauthy")
        saved = plugins._default
        plugins._default = registry
        try:
            yield shop
        finally:
            plugins._default = saved


def _connect(run_cli: Cli, shop: OAuthShop, *extra: str, input: Any = None) -> Any:
    """Run ``storelink connect oauthy``; the client secret comes from stdin unless *input* is given."""
    secret = ("-a", f"client_secret={CLIENT_SECRET}") if input is not None else ("-a", "client_secret=@-")
    args = ["connect", "oauthy", "--store-url", shop.origin, "-a", f"client_id={CLIENT_ID}", *secret, *extra]
    return run_cli.runner.invoke(cli, args, input=input if input is not None else CLIENT_SECRET, catch_exceptions=False)


def test_connect_prints_the_authorization_url_and_completes_through_the_loopback_listener(
    run_cli: Cli, shop: OAuthShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant = Merchant(shop)
    monkeypatch.setattr("webbrowser.open", merchant.open)
    result = _connect(run_cli, shop, "--open", "--label", "loopback")
    for thread in merchant.threads:
        thread.join()
    assert result.exit_code == 0, result.stderr
    (url,) = merchant.urls
    assert url in result.stderr
    redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    assert redirect.startswith("http://127.0.0.1:")
    assert redirect.endswith("/oauth/callback")
    assert "ok  products" in result.stderr
    connection_id = result.stdout.strip()
    (shown,) = run_cli.json_lines("connections", "show", connection_id)
    assert shown["platform"] == "oauthy"
    assert shown["label"] == "loopback"
    (token,) = shop.tokens
    for secret in (CLIENT_SECRET, token):
        assert secret not in result.stdout + result.stderr


def test_connect_listens_on_the_port_given(run_cli: Cli, shop: OAuthShop, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    merchant = Merchant(shop)
    monkeypatch.setattr("webbrowser.open", merchant.open)
    result = _connect(run_cli, shop, "--open", "--port", str(port))
    for thread in merchant.threads:
        thread.join()
    assert result.exit_code == 0, result.stderr
    assert f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Foauth%2Fcallback" in merchant.urls[0]


def test_connect_accepts_a_pasted_callback_url(run_cli: Cli, shop: OAuthShop, monkeypatch: pytest.MonkeyPatch) -> None:
    merchant = Merchant(shop, deliver=False)
    monkeypatch.setattr("webbrowser.open", merchant.open)
    registered = "https://channel.example.com/storelink/callback"
    result = _connect(
        run_cli,
        shop,
        "--open",
        "--callback-url",
        "--redirect-uri",
        registered,
        input=io.BufferedReader(Pasted(merchant)),
    )
    assert result.exit_code == 0, result.stderr
    assert parse_qs(urlsplit(merchant.urls[0]).query)["redirect_uri"] == [registered]
    assert shop.exchanges[0]["redirect_uri"] == registered
    assert result.stdout.strip().startswith("oauthy_")


def test_a_pasted_address_elsewhere_is_refused(run_cli: Cli, shop: OAuthShop, monkeypatch: pytest.MonkeyPatch) -> None:
    merchant = Merchant(shop, deliver=False)
    monkeypatch.setattr("webbrowser.open", merchant.open)
    result = _connect(
        run_cli,
        shop,
        "--open",
        "--callback-url",
        "--redirect-uri",
        "https://channel.example.com/cb",
        input="https://evil.example.com/cb?code=x&state=y\n",
    )
    assert "is not at the redirect URI https://channel.example.com/cb" in one_line_error(result, 2)
    assert shop.exchanges == []


def test_a_declined_authorization_exits_3_saying_so(
    run_cli: Cli, shop: OAuthShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant = Merchant(shop, decline=True)
    monkeypatch.setattr("webbrowser.open", merchant.open)
    result = _connect(run_cli, shop, "--open")
    for thread in merchant.threads:
        thread.join()
    assert "did not give the app access" in one_line_error(result, 3)
    assert shop.exchanges == []


def test_key_credentials_are_refused_for_an_oauth_platform(run_cli: Cli, shop: OAuthShop) -> None:
    result = _connect(run_cli, shop, "-c", "access_token=x")
    assert "give the app's with --app-credential" in one_line_error(result, 2)


def test_the_callback_url_mode_needs_the_registered_redirect_uri(run_cli: Cli, shop: OAuthShop) -> None:
    result = _connect(run_cli, shop, "--callback-url")
    assert "give the redirect URI registered for the app" in one_line_error(result, 2)


def test_app_credentials_are_named_by_their_option(run_cli: Cli, shop: OAuthShop) -> None:
    result = _connect(run_cli, shop, "-a", "tenant=x")
    assert "Invalid value for --app-credential: unknown name 'tenant'" in one_line_error(result, 2)


def test_a_missing_app_credential_names_the_app_credential_option(run_cli: Cli, shop: OAuthShop) -> None:
    args = ["connect", "oauthy", "--store-url", shop.origin, "-a", f"client_id={CLIENT_ID}"]
    result = run_cli.runner.invoke(cli, args, input="", catch_exceptions=False)
    assert result.exit_code != 0
    assert "pass --app-credential client_secret=VALUE" in " ".join(result.output.split())
    assert "--credential client_secret" not in result.output
