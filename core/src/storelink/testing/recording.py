"""Record a platform's real responses into JSON fixtures, and replay them as a transport.

:class:`Recorder` wraps a real transport. It hands every response to its caller
unchanged and keeps a scrubbed copy: secrets are removed when an exchange is captured,
so nothing unscrubbed is ever held for writing, and :meth:`Recorder.save` refuses to
write a file in which a known secret value still appears. Scrubbing removes:

- the values of ``Authorization``, ``Proxy-Authorization``, ``Cookie``,
  ``Set-Cookie`` and every header whose name holds a word such as ``token``, ``key``,
  ``secret``, ``session`` or ``auth``;
- the values of JSON fields, form fields and query parameters with such names
  (``access_token``, ``apiKey``, ``client_secret``...);
- anything shaped like a JWT, and every occurrence of a value passed as *secrets*
  and of every live :class:`~storelink.Secret`, wherever it appears.

:class:`ReplayTransport` serves a recorded file: each request gets the next recorded
response for the same method, path and query, in recorded order, so a deterministic
test replays the exchange it recorded.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from storelink.credentials import live_secret_values

__all__ = ["SCRUBBED", "Recorder", "ReplayMiss", "ReplayTransport", "scrub_exchange"]

#: What a scrubbed value is replaced with.
SCRUBBED = "<scrubbed>"
_FORMAT = 1
_SENSITIVE_WORDS = frozenset(
    {"auth", "authorization", "bearer", "cookie", "credential", "credentials", "jwt", "key", "passwd", "password"}
    | {"secret", "session", "signature", "token"}
)
_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_MIN_SECRET = 8  # shorter values would scrub ordinary text


def _sensitive(name: str) -> bool:
    return any(word.lower() in _SENSITIVE_WORDS for word in _WORDS.findall(name))


class _Scrubber:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, SCRUBBED)
        return _JWT.sub(SCRUBBED, value)

    def json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: SCRUBBED if _sensitive(str(k)) else self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        return self.text(value) if isinstance(value, str) else value

    def pairs(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, SCRUBBED if _sensitive(k) else self.text(v)) for k, v in pairs]

    def headers(self, headers: httpx.Headers) -> dict[str, str]:
        kept: dict[str, str] = {}
        for name, value in headers.multi_items():
            lowered = name.lower()
            if lowered in _DROPPED_HEADERS:
                continue
            scrubbed = SCRUBBED if lowered in _SENSITIVE_HEADERS or _sensitive(lowered) else self.text(value)
            kept[lowered] = f"{kept[lowered]}, {scrubbed}" if lowered in kept else scrubbed
        return kept

    def url(self, url: httpx.URL) -> str:
        query = urlencode(self.pairs(parse_qsl(url.query.decode(), keep_blank_values=True)))
        bare = url.copy_with(query=None, fragment=None)
        base = self.text(str(bare.copy_with(username=SCRUBBED, password=None) if url.userinfo else bare))
        return f"{base}?{query}" if query else base

    def body(self, content: bytes, content_type: str) -> dict[str, Any]:
        if not content:
            return {}
        try:
            text = content.decode()
        except UnicodeDecodeError:
            for secret in self.secrets:
                content = content.replace(secret.encode(), SCRUBBED.encode())
            return {"base64": base64.b64encode(content).decode()}
        if "json" in content_type:
            try:
                return {"json": self.json(json.loads(text))}
            except ValueError:
                pass
        if "x-www-form-urlencoded" in content_type:
            return {"form": self.pairs(parse_qsl(text, keep_blank_values=True))}
        return {"text": self.text(text)}


def scrub_exchange(request: httpx.Request, response: httpx.Response, *, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """Return the scrubbed, JSON-ready record of one exchange (both bodies must be read).

    :param secrets: Values to remove wherever they appear, besides every live
        :class:`~storelink.Secret`.
    """
    scrub = _Scrubber([*secrets, *live_secret_values()])
    return {
        "request": {
            "method": request.method,
            "url": scrub.url(request.url),
            "headers": scrub.headers(request.headers),
            "body": scrub.body(request.content, request.headers.get("content-type", "")),
        },
        "response": {
            "status": response.status_code,
            "headers": scrub.headers(response.headers),
            "body": scrub.body(response.content, response.headers.get("content-type", "")),
        },
    }


class Recorder(httpx.AsyncBaseTransport):
    """Pass requests to *inner* and keep a scrubbed record of every exchange.

    :param inner: The real transport (``httpx.AsyncHTTPTransport()`` for a live store).
    :param path: The JSON file :meth:`save` writes.
    :param secrets: Values to scrub besides every live :class:`~storelink.Secret`
        (the credentials as typed, if they are not held in a ``Secret``).
    """

    def __init__(
        self, inner: httpx.AsyncBaseTransport, path: str | os.PathLike[str], *, secrets: Iterable[str] = ()
    ) -> None:
        self.inner = inner
        self.path = Path(path)
        self.secrets = tuple(secrets)
        self.exchanges: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Forward *request*, record the exchange scrubbed, return the response as received."""
        await request.aread()
        response = await self.inner.handle_async_request(request)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        received = httpx.Response(
            response.status_code,
            headers=[(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DROPPED_HEADERS],
            content=content,
            request=request,
            extensions=response.extensions,
        )
        self.exchanges.append(scrub_exchange(request, received, secrets=self.secrets))
        return received

    def save(self) -> Path:
        """Write the exchanges to :attr:`path` (atomically) and return it.

        :raises ValueError: A known secret value would be written; nothing was.
        """
        text = json.dumps({"format": _FORMAT, "exchanges": self.exchanges}, indent=2, sort_keys=True) + "\n"
        leaked = [s for s in [*self.secrets, *live_secret_values()] if len(s) >= _MIN_SECRET and s in text]
        if leaked:
            raise ValueError(f"refusing to write {self.path}: {len(leaked)} secret value(s) survived scrubbing")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(text)
        os.replace(tmp.name, self.path)
        return self.path

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


class ReplayMiss(AssertionError):
    """A request has no recorded response left: the test no longer matches its recording."""


def _key(method: str, url: httpx.URL | str) -> tuple[str, str, str]:
    parsed = httpx.URL(str(url))
    query = sorted(parse_qsl(parsed.query.decode(), keep_blank_values=True))
    return method.upper(), parsed.path, urlencode([(k, SCRUBBED if _sensitive(k) else v) for k, v in query])


def _content(body: Mapping[str, Any]) -> bytes:
    if "json" in body:
        return json.dumps(body["json"]).encode()
    if "form" in body:
        return urlencode([(k, v) for k, v in body["form"]]).encode()
    if "base64" in body:
        return base64.b64decode(body["base64"])
    return str(body.get("text", "")).encode()


class ReplayTransport(httpx.AsyncBaseTransport):
    """Serve the exchanges of a file :class:`Recorder` wrote.

    Each request gets the next unserved response recorded for its method, path and
    query (request bodies and headers are not compared: they may hold scrubbed
    values). A request with none left raises :class:`ReplayMiss`.

    :param exchanges: The recorded exchanges, in order.
    """

    def __init__(self, exchanges: Iterable[Mapping[str, Any]]) -> None:
        self._queues: dict[tuple[str, str, str], deque[Mapping[str, Any]]] = defaultdict(deque)
        for exchange in exchanges:
            request = exchange["request"]
            self._queues[_key(request["method"], request["url"])].append(exchange["response"])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReplayTransport:
        """Read a recorded file.

        :raises ValueError: The file is not a recording of a format this version reads.
        """
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a storelink recording (format {_FORMAT})")
        return cls(data["exchanges"])

    @property
    def unserved(self) -> int:
        """How many recorded responses were not asked for."""
        return sum(len(q) for q in self._queues.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Return the next recorded response for *request*."""
        queue = self._queues.get(_key(request.method, request.url))
        if not queue:
            raise ReplayMiss(
                f"no recorded response left for {request.method} {request.url.path}; "
                "the test makes a request its recording does not hold: record it again"
            )
        recorded = queue.popleft()
        return httpx.Response(
            recorded["status"], headers=recorded["headers"], content=_content(recorded["body"]), request=request
        )
