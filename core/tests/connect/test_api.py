"""The JSON API: authentication, connect sessions, connections, errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from storelink.connect import Channel, ConnectSessions, create_app, hash_token


def _auth(kit: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {kit.API_TOKEN}"}


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-token", "Basic YWNtZTp4", "acme-api-token-for-tests"])
async def test_calls_without_the_channel_token_are_unauthorized(client: Any, kit: Any, header: str | None) -> None:
    headers = {"authorization": header} if header is not None else {}
    for path in ("/api/connect-sessions", "/api/connections"):
        response = await client.post(path, json={}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == 'Bearer realm="storelink"'


async def test_a_connect_session_is_created_with_a_one_time_link(client: Any, kit: Any, clock: Any) -> None:
    response = await client.post(
        "/api/connect-sessions", json={"redirect_uri": kit.REDIRECTS[0], "state": "s"}, headers=_auth(kit)
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "url", "expires_at"}
    assert body["url"].startswith(f"http://testserver/connect/{body['id']}?ticket=")
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == clock.now + 600
    assert "set-cookie" not in response.headers


async def test_the_public_url_is_the_base_of_the_links(hub: Any, kit: Any) -> None:
    app = create_app(hub=hub, channels=[kit.CHANNEL], public_url="https://connect.example.com/")
    async with kit.make_client(app) as client:
        body = await kit.Walker(client).start()
    assert body["url"].startswith("https://connect.example.com/connect/")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"state": "s"}, "invalid_redirect_uri", "redirect_uri"),
        ({"redirect_uri": "https://chan.example.com/storelink/callback"}, "invalid_request", "state"),
        ({"redirect_uri": "https://chan.example.com/storelink/callback", "state": ""}, "invalid_request", "state"),
        ({"redirect_uri": "https://chan.example.com/storelink/callback", "state": 7}, "invalid_request", "state"),
        (
            {"redirect_uri": "https://chan.example.com/storelink/callback", "state": "x" * 1025},
            "invalid_state",
            "state",
        ),
        ({"redirect_uri": "https://chan.example.com/storelink/callback", "state": "a\r\nb"}, "invalid_state", "state"),
        ({"redirect_uri": "https://chan.example.com/storelink/callback", "state": "a\x00"}, "invalid_state", "state"),
        (
            {"redirect_uri": "https://chan.example.com/storelink/callback", "state": "s", "platform": "nope"},
            "unknown_platform",
            "platform",
        ),
    ],
)
async def test_a_bad_session_request_is_refused_naming_the_field(
    client: Any, kit: Any, body: dict[str, Any], code: str, field: str
) -> None:
    response = await client.post("/api/connect-sessions", json=body, headers=_auth(kit))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [(b"{", "application/json", 400), (b"[]", "application/json", 400), (b"a=b", "text/plain", 415)],
)
async def test_a_body_that_is_not_a_json_object_is_refused(
    client: Any, kit: Any, content: bytes, content_type: str, status: int
) -> None:
    headers = {**_auth(kit), "content-type": content_type}
    response = await client.post("/api/connect-sessions", content=content, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == "invalid_request"


async def test_a_channel_offers_only_its_platforms(hub: Any, kit: Any) -> None:
    token = "only-shop-token"
    channel = Channel(
        id="shoponly",
        name="Shop only",
        redirect_uris=kit.REDIRECTS[:1],
        platforms=("shop",),
        api_token_sha256=hash_token(token),
    )
    app = create_app(hub=hub, channels=[kit.CHANNEL, channel])
    async with kit.make_client(app) as client:
        headers = {"authorization": f"Bearer {token}"}
        refused = await client.post(
            "/api/connect-sessions",
            json={"redirect_uri": kit.REDIRECTS[0], "state": "s", "platform": "mall"},
            headers=headers,
        )
        assert refused.json()["error"]["code"] == "unknown_platform"
        started = await client.post(
            "/api/connect-sessions", json={"redirect_uri": kit.REDIRECTS[0], "state": "s"}, headers=headers
        )
        opened = await client.get(started.json()["url"])
        assert opened.headers["location"].endswith("/store")


async def test_too_many_live_sessions_are_refused(hub: Any, kit: Any, clock: Any) -> None:
    app = create_app(hub=hub, channels=[kit.CHANNEL], sessions=ConnectSessions(clock=clock, limit=2))
    async with kit.make_client(app) as client:
        walker = kit.Walker(client)
        await walker.start()
        await walker.start()
        refused = await client.post(
            "/api/connect-sessions", json={"redirect_uri": kit.REDIRECTS[0], "state": "s"}, headers=_auth(kit)
        )
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "session_busy"
        clock.now += 601
        await walker.start()


async def test_a_connection_is_made_through_the_api(client: Any, kit: Any, hub: Any) -> None:
    body = {
        "platform": "shop",
        "store_url": "https://Shop.Example.com/admin/",
        "credentials": {"api_key": kit.GOOD_KEY, "account": "acme-eu"},
        "settings": {"site": "siteUS"},
        "label": "EU store",
    }
    response = await client.post("/api/connections", json=body, headers=_auth(kit))
    assert response.status_code == 201
    connection = response.json()["connection"]
    assert connection["id"] == "conn_1"
    assert connection["platform"] == "shop"
    assert connection["store_url"] == "https://shop.example.com"
    assert connection["status"] == "active"
    assert connection["label"] == "EU store"
    assert hub.connections[0].settings == {"site": "siteUS"}
    assert kit.CANARY not in response.text


API_FAILURES = [
    ("REJECTED_KEY", 422, "key_rejected", "api_key"),
    ("NO_ORDERS_KEY", 422, "permission_missing", "api_key"),
    ("FORBIDDEN_KEY", 422, "permission_missing", "api_key"),
    ("DOWN_KEY", 503, "platform_unavailable", None),
    ("UNREACHABLE_KEY", 502, "store_unreachable", None),
    ("PRIVATE_KEY", 422, "store_url_refused", "store_url"),
    ("SLOW_KEY", 503, "platform_unavailable", None),
]


@pytest.mark.parametrize(("key_name", "status", "code", "field"), API_FAILURES)
async def test_the_api_reports_the_same_failures_as_the_pages(
    client: Any, kit: Any, key_name: str, status: int, code: str, field: str | None
) -> None:
    body = {"platform": "shop", "store_url": "shop.example.com", "credentials": {"api_key": getattr(kit, key_name)}}
    response = await client.post("/api/connections", json=body, headers=_auth(kit))
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]
    assert kit.CANARY not in response.text


async def test_an_unavailable_platform_says_when_to_retry(client: Any, kit: Any) -> None:
    body = {"platform": "shop", "store_url": "shop.example.com", "credentials": {"api_key": kit.DOWN_KEY}}
    response = await client.post("/api/connections", json=body, headers=_auth(kit))
    assert response.headers["retry-after"] == "30"
    assert response.json()["error"]["retry_after"] == 30


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (
            {"platform": "shop", "store_url": "nowhere", "credentials": {"api_key": "k"}},
            422,
            "invalid_store_url",
            "store_url",
        ),
        (
            {"platform": "shop", "store_url": "shop.example.com", "credentials": {}},
            422,
            "invalid_credentials",
            "api_key",
        ),
        (
            {"platform": "shop", "store_url": "shop.example.com", "credentials": {"api_key": "a b"}},
            422,
            "invalid_credentials",
            "api_key",
        ),
        (
            {"platform": "shop", "store_url": "shop.example.com", "credentials": {"x": "y"}},
            422,
            "invalid_credentials",
            "x",
        ),
        (
            {"platform": "shop", "store_url": "shop.example.com", "credentials": "k"},
            400,
            "invalid_request",
            "credentials",
        ),
        (
            {"platform": "shop", "store_url": "shop.example.com", "credentials": {"api_key": 5}},
            400,
            "invalid_request",
            "credentials",
        ),
        (
            {"platform": "shop", "store_url": "shop.example.com", "credentials": {}, "settings": []},
            400,
            "invalid_request",
            "settings",
        ),
        (
            {"platform": "shop", "store_url": "shop.example.com", "credentials": {}, "label": 3},
            400,
            "invalid_request",
            "label",
        ),
        (
            {
                "platform": "shop",
                "store_url": "s.example.com",
                "credentials": {"api_key": "k"},
                "settings": {"zone": "1"},
            },
            422,
            "invalid_settings",
            "zone",
        ),
        ({"store_url": "shop.example.com", "credentials": {}}, 400, "invalid_request", "platform"),
        (
            {"platform": "ghost", "store_url": "shop.example.com", "credentials": {}},
            400,
            "unknown_platform",
            "platform",
        ),
    ],
)
async def test_bad_connection_requests_name_the_field(
    client: Any, kit: Any, hub: Any, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    response = await client.post("/api/connections", json=body, headers=_auth(kit))
    assert response.status_code == status, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert hub.validations == 0


async def test_a_refused_store_url_is_not_quoted_back_with_its_credentials(client: Any, kit: Any) -> None:
    body = {
        "platform": "shop",
        "store_url": "admin:LEAKEDPASSWORD@nowhere?key=LEAKEDKEY",
        "credentials": {"api_key": "k"},
    }
    response = await client.post("/api/connections", json=body, headers=_auth(kit))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_store_url"
    assert "LEAKED" not in response.text
    assert "'nowhere' is not a store address" in response.json()["error"]["message"]
