"""The app around the flow: security headers, cookies, the development channel, start-up, limits."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from storelink import ConfigurationError
from storelink.connect import Channel, create_app, serving_app


@pytest.fixture
async def dev_client(hub: Any, kit: Any) -> AsyncIterator[Any]:
    app = create_app(hub=hub, public_url="http://127.0.0.1:8000")
    async with kit.make_client(app, "http://127.0.0.1:8000") as client:
        yield client


async def test_every_page_sends_the_security_headers(walker: Any) -> None:
    sid = await walker.to_credentials()
    for path in (f"/connect/{sid}/store", f"/connect/{sid}/credentials", "/connect/unknown/store"):
        headers = (await walker.get(path)).response.headers
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe" not in csp
        assert "strict-transport-security" not in headers


async def test_the_credentials_form_may_end_on_the_channel_origin_only(walker: Any) -> None:
    sid = await walker.to_credentials()
    csp = (await walker.get(f"/connect/{sid}/credentials")).response.headers["content-security-policy"]
    assert "form-action 'self' https://chan.example.com;" in csp
    store_csp = (await walker.get(f"/connect/{sid}/store")).response.headers["content-security-policy"]
    assert "form-action 'self';" in store_csp


async def test_the_pages_work_without_javascript(walker: Any) -> None:
    """Every step is a plain form post; the one script only adds a pending message."""
    sid = await walker.to_credentials()
    text = (await walker.get(f"/connect/{sid}/credentials")).response.text
    assert re.findall(r"<script[^>]*>", text) == ['<script src="/static/connect.js" defer>']
    assert "onclick" not in text
    assert '<form method="post"' in text


async def test_static_files_are_served_and_cacheable(client: Any) -> None:
    css = await client.get("/static/connect.css")
    assert css.status_code == 200
    assert "cache-control" not in css.headers
    assert css.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/static/connect.js")).status_code == 200


async def test_over_https_the_cookie_is_host_prefixed_and_hsts_is_sent(new_client: Any, kit: Any) -> None:
    async with new_client("https://connect.example.com") as client:
        walker = kit.Walker(client)
        started = await walker.start()
        assert started["url"].startswith("https://connect.example.com/connect/")
        opened = await walker.open(started["url"])
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith("__Host-storelink-browser=")
        assert "Secure" in cookie
        assert "Path=/" in cookie
        assert "Domain" not in cookie
        assert opened.headers["strict-transport-security"] == "max-age=31536000"
        page = await walker.get(f"/connect/{started['id']}/platform")
        assert page.response.status_code == 200


async def test_the_development_start_page_lists_platforms_by_title(dev_client: Any) -> None:
    page = await dev_client.get("/")
    assert page.status_code == 200
    text = page.text
    assert '<button type="submit" name="platform" value="shop" class="platform">Fake Shop</button>' in text
    assert text.index("Fake Shop") < text.index("Mega Mall")
    assert page.headers["set-cookie"].startswith("storelink-browser=")


async def test_the_development_flow_ends_on_its_own_connected_page(dev_client: Any, kit: Any) -> None:
    walker = kit.Walker(dev_client)
    start = await walker.get("/")
    begun = await walker.post("/", {"platform": "mall"}, csrf=start.csrf)
    assert begun.response.status_code == 303
    sid = begun.location.split("/")[2]
    assert begun.location == f"/connect/{sid}/store"
    page = await walker.get(begun.location)
    stored = await walker.post(begun.location, {"store_url": "mall.example.com"}, csrf=page.csrf)
    assert stored.location == f"/connect/{sid}/credentials"
    done = await walker.submit_key(sid, kit.GOOD_KEY)
    assert done.location.startswith("http://127.0.0.1:8000/connected?connection_id=conn_1&state=")
    landing = await dev_client.get(done.location)
    assert '<code id="connection-id">conn_1</code>' in landing.text


async def test_the_start_page_refuses_a_post_without_csrf(dev_client: Any) -> None:
    await dev_client.get("/")
    refused = await dev_client.post("/", data={"platform": "shop"})
    assert refused.status_code == 403


async def test_the_start_page_refuses_an_unknown_platform(dev_client: Any, kit: Any) -> None:
    walker = kit.Walker(dev_client)
    start = await walker.get("/")
    refused = await walker.post("/", {"platform": "nope"}, csrf=start.csrf)
    assert refused.response.status_code == 422
    assert "Choose a platform." in refused.response.text


async def test_with_channels_configured_the_start_page_lists_nothing(client: Any) -> None:
    page = await client.get("/")
    assert "Start from the app you want to connect your store to" in page.text
    assert "<button" not in page.text
    assert (await client.get("/connected")).status_code == 404


async def test_a_broken_plugin_is_listed_not_hidden(dev_client: Any, registry: Any, caplog: Any) -> None:
    registry.available = lambda: ["mall", "ghost", "shop"]
    page = await dev_client.get("/")
    assert "ghost <small>(its plugin failed to load; see the server log)</small>" in page.text
    assert "platform ghost failed to load" in caplog.text


async def test_a_hub_factory_is_opened_at_start_up_and_closed_at_shutdown(hub: Any, kit: Any) -> None:
    events: list[str] = []

    class Opened:
        registry = hub.registry
        egress = hub.egress
        connect = hub.connect

        async def __aenter__(self) -> Opened:
            events.append("enter")
            return self

        async def __aexit__(self, *exc: object) -> None:
            events.append("exit")

    async def factory() -> Any:
        events.append("open")
        return Opened()

    app = create_app(hub_factory=factory, channels=[kit.CHANNEL])
    async with kit.make_client(app) as client:
        assert (await client.get("/")).status_code == 503
        async with app.router.lifespan_context(app):
            assert events == ["open", "enter"]
            walker = kit.Walker(client)
            sid = await walker.to_credentials()
            assert (await walker.submit_key(sid, kit.GOOD_KEY)).response.status_code == 303
        assert events == ["open", "enter", "exit"]
        api = await client.post(
            "/api/connect-sessions",
            json={"redirect_uri": kit.REDIRECTS[0], "state": "s"},
            headers={"authorization": f"Bearer {kit.API_TOKEN}"},
        )
        assert api.status_code == 503
        assert api.json()["error"]["code"] == "not_ready"


def test_create_app_refuses_an_inconsistent_configuration(hub: Any, kit: Any) -> None:
    with pytest.raises(ConfigurationError, match="exactly one of"):
        create_app(channels=[kit.CHANNEL])
    with pytest.raises(ConfigurationError, match="public_url"):
        create_app(hub=hub)
    other = Channel(id="acme", name="Other", redirect_uris=("https://other.example/cb",))
    with pytest.raises(ConfigurationError, match="duplicate channel ids"):
        create_app(hub=hub, channels=[kit.CHANNEL, other])


async def test_oversized_and_mistyped_form_bodies_are_refused(walker: Any) -> None:
    sid = await walker.to_credentials()
    page = await walker.get(f"/connect/{sid}/credentials")
    big = await walker.post(f"/connect/{sid}/credentials", {"credential.api_key": "x" * 70_000}, csrf=page.csrf)
    assert big.response.status_code == 413
    as_json = await walker.client.post(f"/connect/{sid}/credentials", json={"csrf_token": page.csrf})
    assert as_json.status_code == 415


async def test_a_step_reached_too_early_sends_the_browser_back(walker: Any) -> None:
    started = await walker.start()
    await walker.open(started["url"])
    sid = started["id"]
    early = await walker.get(f"/connect/{sid}/credentials")
    assert early.response.status_code == 303
    assert early.location == f"/connect/{sid}/platform"
    again = await walker.client.get(f"/connect/{sid}")
    assert again.headers["location"] == f"/connect/{sid}/platform"


def test_the_served_app_reads_a_channels_file_and_warns_about_plain_http(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "channels.toml"
    path.write_text('[[channel]]\nid = "acme"\nname = "Acme"\nredirect_uris = ["https://acme.example/cb"]\n')
    app = serving_app("0.0.0.0", 8080, channels=path, database=tmp_path / "db.sqlite")  # noqa: S104
    service = app.state.connect
    assert [c.id for c in service.channels] == ["acme"]
    assert service.development is None
    assert "over plain http" in caplog.text
    assert not (tmp_path / "db.sqlite").exists(), "the hub opens at start-up, not before"


def test_the_served_app_defaults_to_the_development_channel_on_loopback(caplog: pytest.LogCaptureFixture) -> None:
    app = serving_app("127.0.0.1", 8123)
    assert app.state.connect.development.redirect_uris == ("http://127.0.0.1:8123/connected",)
    assert "over plain http" not in caplog.text
