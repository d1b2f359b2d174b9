"""The server-rendered flow over a fake hub: steps, messages, form markup, headers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from storelink.connect import ConnectSessions, create_app


def _input(page_text: str, name: str) -> str:
    match = re.search(rf'<(?:input|textarea)[^>]*name="{re.escape(name)}"[^>]*>', page_text)
    assert match, f"no input named {name}"
    return match.group(0)


async def test_opening_the_link_binds_the_browser_and_goes_to_the_first_step(walker: Any) -> None:
    started = await walker.start()
    opened = await walker.open(started["url"])
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/connect/{started['id']}/platform"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith("storelink-browser=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie


async def test_a_link_preview_does_not_spend_the_ticket(walker: Any) -> None:
    started = await walker.start()
    assert (await walker.client.head(started["url"])).status_code == 204
    assert (await walker.open(started["url"])).status_code == 303


async def test_a_session_for_one_platform_skips_the_platform_step(walker: Any) -> None:
    started = await walker.start(platform="mall")
    opened = await walker.open(started["url"])
    assert opened.headers["location"] == f"/connect/{started['id']}/store"
    page = await walker.get(f"/connect/{started['id']}/store")
    assert "Your Mega Mall store" in page.response.text
    assert 'href="platform"' not in page.response.text


async def test_the_platform_step_lists_the_offered_platforms_by_title(walker: Any) -> None:
    started = await walker.start()
    await walker.open(started["url"])
    page = await walker.get(f"/connect/{started['id']}/platform")
    text = page.response.text
    assert text.index("Fake Shop") < text.index("Mega Mall")
    assert "<legend>Platform</legend>" in text
    assert 'for="platform-shop"' in text


async def test_choosing_a_platform_that_is_not_offered_is_explained(walker: Any) -> None:
    started = await walker.start()
    await walker.open(started["url"])
    page = await walker.get(f"/connect/{started['id']}/platform")
    chosen = await walker.post(f"/connect/{started['id']}/platform", {"platform": "other"}, csrf=page.csrf)
    assert chosen.response.status_code == 422
    assert "Choose your store&#39;s platform." in chosen.response.text


async def test_the_store_url_is_normalised_and_shown_back(walker: Any) -> None:
    sid = await walker.to_credentials()
    page = await walker.get(f"/connect/{sid}/credentials")
    assert page.response.status_code == 200
    assert '<span class="url" id="store-url">https://shop.example.com</span>' in page.response.text
    back = await walker.get(f"/connect/{sid}/store")
    assert 'value="https://shop.example.com"' in back.response.text


async def test_an_unacceptable_store_url_is_explained_at_the_field(walker: Any) -> None:
    started = await walker.start(platform="shop")
    await walker.open(started["url"])
    sid = started["id"]
    page = await walker.get(f"/connect/{sid}/store")
    bad = await walker.post(f"/connect/{sid}/store", {"store_url": "not-a-store"}, csrf=page.csrf)
    assert bad.response.status_code == 422
    text = bad.response.text
    assert "is not a store address" in text
    field = _input(text, "store_url")
    assert 'aria-invalid="true"' in field
    assert 'aria-describedby="store_url-error store_url-help"' in field
    assert 'value="not-a-store"' in field
    assert 'id="store_url-error"' in text


async def test_what_the_merchant_typed_is_escaped_in_the_page(walker: Any) -> None:
    started = await walker.start(platform="shop")
    await walker.open(started["url"])
    sid = started["id"]
    page = await walker.get(f"/connect/{sid}/store")
    bad = await walker.post(f"/connect/{sid}/store", {"store_url": '"><script>alert(1)</script>'}, csrf=page.csrf)
    assert "<script>alert" not in bad.response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bad.response.text


async def test_the_credential_form_is_generated_from_the_schema(walker: Any) -> None:
    sid = await walker.to_credentials()
    text = (await walker.get(f"/connect/{sid}/credentials")).response.text
    key = _input(text, "credential.api_key")
    assert 'type="password"' in key
    assert 'value=""' in key
    assert 'placeholder="sk_live_…"' in key
    assert " required" in key
    assert " autofocus" in key
    assert 'aria-describedby="credential-api_key-help"' in key
    assert '<label for="credential-api_key">API key</label>' in text
    assert 'id="credential-api_key-help">Admin &gt; Settings &gt; API keys &gt; Create.</p>' in text
    account = _input(text, "credential.account")
    assert 'type="text"' in account
    assert " required" not in account
    assert 'Account name <span class="optional">(optional)</span>' in text
    assert "<summary>Store settings (optional)</summary>" in text
    assert _input(text, "setting.site")
    assert "<li>Create an API key with read access to orders.</li>" in text
    assert '<form method="post" class="card" data-pending=' in text


async def test_success_redirects_to_the_registered_uri_with_the_id_and_state(walker: Any, kit: Any) -> None:
    sid = await walker.to_credentials(state="st-1")
    done = await walker.submit_key(sid, kit.GOOD_KEY)
    assert done.response.status_code == 303
    assert done.location == f"{kit.REDIRECTS[0]}?connection_id=conn_1&state=st-1"


@pytest.mark.parametrize("state", ["a b&c=d#e/f?g", "é€😀", "%2F%0D%0Ax", "x" * 1024])
async def test_the_state_comes_back_unchanged_and_encoded(walker: Any, kit: Any, state: str) -> None:
    sid = await walker.to_credentials(state=state, redirect_uri=kit.REDIRECTS[1])
    done = await walker.submit_key(sid, kit.GOOD_KEY)
    location = done.location
    parts = urlsplit(location)
    assert location.startswith(kit.REDIRECTS[1] + "&")
    assert parts.fragment == ""
    assert not re.search(r"[\s#]", location)
    assert parse_qs(parts.query) == {"tenant": ["7"], "connection_id": ["conn_1"], "state": [state]}


async def test_connecting_stores_the_settings_and_the_platform(walker: Any, kit: Any, hub: Any) -> None:
    sid = await walker.to_credentials(platform="mall")
    page = await walker.get(f"/connect/{sid}/credentials")
    data = {"credential.api_key": kit.GOOD_KEY, "setting.site": "siteUS"}
    await walker.post(f"/connect/{sid}/credentials", data, csrf=page.csrf)
    (connection,) = hub.connections
    assert connection.platform == "mall"
    assert dict(connection.settings) == {"site": "siteUS"}
    assert str(connection.store_url) == "https://shop.example.com"


FAILURES = [
    ("REJECTED_KEY", "Fake Shop rejected this key."),
    ("NO_ORDERS_KEY", "does not allow it to read orders"),
    ("FORBIDDEN_KEY", "does not allow it to read products"),
    ("DOWN_KEY", "Fake Shop is not available right now (HTTP 503). Try again in a few minutes."),
    ("UNREACHABLE_KEY", "We could not reach https://shop.example.com."),
    ("PRIVATE_KEY", "points to a private or local network address"),
    ("SLOW_KEY", "Fake Shop did not answer within 0.2 seconds. Try again in a minute."),
]


@pytest.mark.parametrize(("key_name", "message"), FAILURES)
async def test_a_failure_shows_a_specific_message_keeps_the_url_and_empties_the_key(
    walker: Any, kit: Any, hub: Any, key_name: str, message: str
) -> None:
    sid = await walker.to_credentials()
    failed = await walker.submit_key(sid, getattr(kit, key_name), account="acme-eu")
    text = failed.response.text
    assert failed.response.status_code == 422
    assert message in text.replace("&#39;", "'")
    assert text.count('role="alert"') == 1
    assert "https://shop.example.com" in text
    assert 'value=""' in _input(text, "credential.api_key")
    assert 'value="acme-eu"' in _input(text, "credential.account")
    assert kit.CANARY not in text
    assert hub.connections == []


async def test_a_malformed_key_is_refused_before_the_platform_is_called(walker: Any, hub: Any) -> None:
    sid = await walker.to_credentials()
    failed = await walker.submit_key(sid, "has a space")
    assert failed.response.status_code == 422
    key = _input(failed.response.text, "credential.api_key")
    assert 'aria-invalid="true"' in key
    assert 'aria-describedby="credential-api_key-error credential-api_key-help"' in key
    assert "An API key has no spaces" in failed.response.text
    assert hub.validations == 0


async def test_a_missing_key_is_tied_to_its_field(walker: Any) -> None:
    sid = await walker.to_credentials()
    failed = await walker.submit_key(sid, "   ")
    assert "API key is required" in failed.response.text
    assert 'aria-invalid="true"' in _input(failed.response.text, "credential.api_key")


async def test_the_merchant_can_retry_after_a_failure(walker: Any, kit: Any) -> None:
    sid = await walker.to_credentials()
    assert (await walker.submit_key(sid, kit.REJECTED_KEY)).response.status_code == 422
    done = await walker.submit_key(sid, kit.GOOD_KEY)
    assert done.response.status_code == 303


async def test_a_double_submit_shares_one_check_and_one_connection(hub: Any, kit: Any, clock: Any) -> None:
    app = create_app(hub=hub, channels=[kit.CHANNEL], sessions=ConnectSessions(clock=clock), validate_timeout=30)
    async with kit.make_client(app) as client:
        walker = kit.Walker(client)
        sid = await walker.to_credentials()
        page = await walker.get(f"/connect/{sid}/credentials")
        form = urlencode({"credential.api_key": kit.SLOW_KEY, "csrf_token": page.csrf}).encode()
        sent = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield form
            sent.set()  # the app has read the whole body; it now waits on the check in flight

        headers = {"content-type": "application/x-www-form-urlencoded"}
        first = asyncio.ensure_future(client.post(f"/connect/{sid}/credentials", content=form, headers=headers))
        await hub.entered.wait()
        second = asyncio.ensure_future(client.post(f"/connect/{sid}/credentials", content=body(), headers=headers))
        await sent.wait()
        hub.release.set()
        responses = await asyncio.gather(first, second)
    assert [r.status_code for r in responses] == [303, 303]
    assert responses[0].headers["location"] == responses[1].headers["location"]
    assert hub.validations == 1
    assert len(hub.connections) == 1


@pytest.mark.parametrize(
    ("pasted", "shown"),
    [
        ("nowhere?key=LEAKEDVALUE1", "nowhere"),
        ("nowhere/?access_token=LEAKEDVALUE2&x=1", "nowhere/"),
        ("nowhere#token=LEAKEDVALUE3", "nowhere"),
        ("https://admin:LEAKEDVALUE4@nowhere/shop", "https://nowhere/shop"),
        ("admin:LEAKEDVALUE5@nowhere", "nowhere"),
    ],
)
async def test_a_refused_store_url_is_shown_back_without_the_credentials_pasted_with_it(
    walker: Any, pasted: str, shown: str
) -> None:
    started = await walker.start(platform="shop")
    await walker.open(started["url"])
    sid = started["id"]
    page = await walker.get(f"/connect/{sid}/store")
    bad = await walker.post(f"/connect/{sid}/store", {"store_url": pasted}, csrf=page.csrf)
    assert bad.response.status_code == 422
    text = bad.response.text
    assert "LEAKEDVALUE" not in text
    assert f'value="{shown}"' in _input(text, "store_url")
    assert f"&#39;{shown}&#39; is not a store address" in text  # the plugin's message quotes the cleaned value
