"""Open-redirect prevention (docs/connect.md, "Security properties"): only registered URIs, byte for byte."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# The channel registered https://chan.example.com/storelink/callback,
# https://chan.example.com/cb?tenant=7 and http://127.0.0.1:9999/return.
BAD_REDIRECTS: list[object] = [
    # look-alike hosts
    "https://chan.example.com.evil.test/storelink/callback",
    "https://evil.test/storelink/callback",
    "https://chan-example.com/storelink/callback",
    "https://xn--chan-example-com.evil.test/storelink/callback",
    "https://chan.example.com./storelink/callback",
    # userinfo tricks
    "https://chan.example.com@evil.test/storelink/callback",
    "https://chan.example.com%40evil.test/storelink/callback",
    "https://chan.example.com\\@evil.test/storelink/callback",
    "http://otherserver\\@chan.example.com/storelink/callback",
    "http://testserver\\me:pass@example.com",
    "https://user:pass@chan.example.com/storelink/callback",
    # fragments and queries pointing elsewhere
    "https://evil.test#@chan.example.com/storelink/callback",
    "https://evil.test?@chan.example.com/storelink/callback",
    "https://chan.example.com/storelink/callback#evil",
    "https://chan.example.com/storelink/callback?next=https://evil.test",
    "https://evil.test/https://chan.example.com/storelink/callback",
    # scheme-relative, slashes and backslashes
    "//evil.test",
    "//chan.example.com/storelink/callback",
    "///evil.test",
    "/\\evil.test",
    "\\/evil.test",
    "\\\\evil.test",
    "/\\/evil.test",
    "/storelink/callback",
    "https:evil.test",
    "https:/evil.test",
    "https:///evil.test",
    "http:///example.com",
    "http:\\/example.com",
    "https:\\\\chan.example.com/storelink/callback",
    "http:999999999",
    # encoded slashes and dots
    "%2F%2Fevil.test",
    "https://chan.example.com%2F%2Fevil.test",
    "https://chan.example.com/storelink/callback%2F..%2F..%2Fevil",
    "https://chan.example.com/storelink/callback/../../evil",
    "https://chan.example.com/storelink/./callback",
    "https%3A%2F%2Fchan.example.com%2Fstorelink%2Fcallback",
    # CRLF, control characters, whitespace
    "https://chan.example.com/storelink/callback\r\nLocation: https://evil.test",
    "https://chan.example.com/storelink/callback%0d%0aLocation:%20https://evil.test",
    "\njavascript:alert(x)",
    "\x08//example.com",
    "https://chan.example.com/storelink/callback\x00",
    "https://chan.example.com/storelink/callback ",
    " https://chan.example.com/storelink/callback",
    "https://chan.example.com/storelink/callback\t",
    # other schemes
    'javascript:alert("XSS")',
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:,",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://chan.example.com/storelink/callback",
    "http://chan.example.com/storelink/callback",
    "https://127.0.0.1:9999/return",
    # full-width characters
    "https://chan\uff0eexample\uff0ecom/storelink/callback",
    "https://\uff43\uff48\uff41\uff4e.example.com/storelink/callback",
    "https://chan.example.com\uff0fstorelink/callback",
    "\uff0f\uff0fevil.test",
    # near misses of registered URIs
    "HTTPS://CHAN.EXAMPLE.COM/storelink/callback",
    "https://chan.example.com/storelink/Callback",
    "https://chan.example.com/storelink/callback/",
    "https://chan.example.com/storelink/callbac",
    "https://chan.example.com:443/storelink/callback",
    "https://chan.example.com/cb",
    "https://chan.example.com/cb?tenant=8",
    "https://chan.example.com/cb?tenant=7&x=1",
    "http://127.0.0.1:9998/return",
    "http://localhost:9999/return",
    "http://[::1]:9999/return",
    # not strings
    "",
    None,
    7,
    ["https://chan.example.com/storelink/callback"],
    {"uri": "https://chan.example.com/storelink/callback"},
]


def test_the_corpus_is_large_and_has_no_registered_entry(kit: Any) -> None:
    assert len(BAD_REDIRECTS) >= 40
    assert not set(kit.REDIRECTS) & {b for b in BAD_REDIRECTS if isinstance(b, str)}


async def test_every_bad_redirect_is_refused_at_session_creation(client: Any, kit: Any) -> None:
    refused = 0
    locations = []
    for uri in BAD_REDIRECTS:
        response = await client.post(
            "/api/connect-sessions",
            json={"redirect_uri": uri, "state": "s"},
            headers={"authorization": f"Bearer {kit.API_TOKEN}"},
        )
        if response.status_code == 400 and response.json()["error"]["code"] == "invalid_redirect_uri":
            refused += 1
        if "location" in response.headers:
            locations.append(response.headers["location"])
    assert refused == len(BAD_REDIRECTS)
    assert locations == []


async def test_a_redirect_uri_posted_to_the_pages_is_ignored(walker: Any, kit: Any) -> None:
    sid = await walker.to_credentials(redirect_uri=kit.REDIRECTS[2])
    page = await walker.get(f"/connect/{sid}/credentials")
    data = {"credential.api_key": kit.GOOD_KEY, "redirect_uri": "https://evil.test/", "return_to": "//evil.test"}
    response = await walker.client.post(
        f"/connect/{sid}/credentials?redirect_uri=https://evil.test/&next=//evil.test",
        data={**data, "csrf_token": page.csrf},
    )
    assert response.headers["location"].startswith(kit.REDIRECTS[2] + "?connection_id=")


def _registered_prefix(location: str, registered: tuple[str, ...]) -> str | None:
    for uri in registered:
        glue = "&" if "?" in uri else "?"
        if location.startswith(uri + glue + "connection_id="):
            return uri
    return None


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.integers(min_value=0, max_value=2),
    state=st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=64),
    platform=st.sampled_from(["shop", "mall"]),
    retry=st.booleans(),
)
async def test_every_completed_flow_ends_exactly_on_a_registered_uri(
    app: Any, kit: Any, which: int, state: str, platform: str, retry: bool
) -> None:
    """T7.3: random complete flows (some retrying after a failure) end on a registered URI, nowhere else."""
    async with kit.make_client(app) as client:
        walker = kit.Walker(client)
        sid = await walker.to_credentials(platform=platform, state=state, redirect_uri=kit.REDIRECTS[which])
        if retry:
            failed = await walker.submit_key(sid, kit.REJECTED_KEY)
            assert "location" not in failed.response.headers
        location = (await walker.submit_key(sid, kit.GOOD_KEY)).location
    assert _registered_prefix(location, kit.REDIRECTS) == kit.REDIRECTS[which]
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    assert len(query["connection_id"]) == 1


@pytest.mark.parametrize("uri", ["https://chan.example.com/storelink/callback", "http://127.0.0.1:9999/return"])
async def test_each_registered_uri_is_accepted(client: Any, kit: Any, uri: str) -> None:
    response = await client.post(
        "/api/connect-sessions",
        json={"redirect_uri": uri, "state": "s"},
        headers={"authorization": f"Bearer {kit.API_TOKEN}"},
    )
    assert response.status_code == 201
