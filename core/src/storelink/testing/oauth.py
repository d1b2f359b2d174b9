"""The contract's OAuth rules: the authorization URL, the callback check, the code exchange.

They run for a platform that declares ``PlatformInfo.oauth``, through the core's own
onboarding machinery (:mod:`storelink.onboarding`: state, PKCE, the callback checks)
and its runtime (the code exchange over a context without credentials, as the hub
makes it). The platform's side of the install, the screen where the merchant
approves the app, is played by the simulator through :class:`OAuthSimulator`:

- ``app_credentials()`` returns the channel's app on the simulated platform, as the
  operator configures it (``client_id``, ``client_secret``...);
- ``approve(authorization_url)`` approves the app at that URL, as a merchant clicking
  *Install* would, and returns the callback URL the platform sends the browser to.

Each broken rule raises :class:`~storelink.testing.ContractViolation` naming the hook.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlsplit

from attrs import define, field

from storelink.credentials import Credentials, Secret
from storelink.errors import ConfigurationError, CredentialsError, PluginError, StorelinkError
from storelink.onboarding import (
    AuthorizationStates,
    CallbackError,
    PendingAuthorization,
    check_callback,
    code_challenge,
    read_callback,
)
from storelink.testing.checks import ContractViolation, check_models
from storelink.testing.harness import Harness

__all__ = [
    "REDIRECT_URI",
    "OAuthRun",
    "OAuthSimulator",
    "check_authorization_url",
    "check_callback_verification",
    "check_code_exchange",
    "check_no_oauth_leaks",
]

#: The channel's redirect URI in the OAuth rules (a deployment's ``{public_url}/oauth/callback``).
REDIRECT_URI = "https://channel.example.com/storelink/oauth/callback"

_BROWSER = "contract-browser-cookie"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@runtime_checkable
class OAuthSimulator(Protocol):
    """What a simulator offers so the contract can play the platform's approve step."""

    def app_credentials(self) -> Mapping[str, str]:
        """Return the channel's app on the simulated platform (``client_id``, ``client_secret``...)."""
        ...

    def approve(self, authorization_url: str) -> str:
        """Approve the app at *authorization_url* as the merchant would; return the callback URL."""
        ...


@define
class OAuthRun:
    """One OAuth contract test: the harness, the app, the approve step, and what they handled.

    :param harness: The contract harness (platform, transport, clock, logs).
    :param app: The channel's app credentials, parsed with ``OAuthFlow.app_credentials``.
    :param approve: Plays the merchant's approval (the simulator's ``approve``).
    :param redirect_uri: The exact redirect URI of the channel.
    """

    harness: Harness
    app: Credentials
    approve: Callable[[str], str]
    redirect_uri: str = REDIRECT_URI
    states: AuthorizationStates = field(init=False)
    #: Every secret handled: app secrets, codes, verifiers, issued credentials.
    secrets: list[str] = field(factory=list, init=False)
    #: Whatever the rules made that must mask its secrets in a repr.
    objects: list[object] = field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        self.states = AuthorizationStates(clock=self.harness.clock)
        self.secrets += [v.reveal() for v in _secret_values(self.app)]

    @property
    def slug(self) -> str:
        """The platform's slug."""
        return self.harness.slug

    def wrong_app(self) -> Credentials | None:
        """Return the app credentials with every secret changed (``None``: the app has no secret)."""
        values: dict[str, str | Secret] = dict(self.app.items())
        changed = False
        for name, value in self.app.items():
            if isinstance(value, Secret):
                other = _altered(value.reveal())
                values[name] = Secret(other)
                self.secrets.append(other)
                changed = True
        return Credentials(values) if changed else None

    def begin(self) -> PendingAuthorization:
        """Start an authorization through the core (state, PKCE, the URL's checks)."""
        client_id = str(self.app["client_id"])
        try:
            pending = self.states.begin(
                self.harness.platform,
                self.harness.store_url,
                client_id=client_id,
                redirect_uri=self.redirect_uri,
                browser=_BROWSER,
            )
        except PluginError as exc:
            raise ContractViolation(
                "build_authorization_url",
                "authorization URL",
                f"was refused by the core: {exc}",
                "return an absolute https URL with a host, no userinfo or fragment, carrying the state",
            ) from exc
        self.objects.append(pending)
        if pending.code_verifier is not None:
            self.secrets.append(pending.code_verifier.reveal())
        return pending

    def callback(self, pending: PendingAuthorization) -> tuple[str, dict[str, str]]:
        """Approve *pending*'s URL on the simulator; return the callback's raw query and its parameters."""
        try:
            url = self.approve(pending.authorization_url)
        except Exception as exc:
            raise ContractViolation(
                "build_authorization_url",
                "authorization URL",
                f"built a URL the platform's approve step refused: {type(exc).__name__}: {exc}",
                "send the parameters the platform's authorization endpoint documents, named as it names them",
            ) from exc
        parts = urlsplit(url)
        expected = urlsplit(self.redirect_uri)
        if (parts.scheme, parts.netloc, parts.path) != (expected.scheme, expected.netloc, expected.path):
            raise ContractViolation(
                "build_authorization_url",
                "exact redirect URI",
                f"the platform sent the merchant back to {parts.scheme}://{parts.netloc}{parts.path}, "
                f"not to the redirect URI {self.redirect_uri}",
                "send redirect_uri exactly as the core gives it",
            )
        params = read_callback(parts.query)
        code = params.get("code")
        if code:
            self.secrets.append(code)
        return parts.query, params

    def accept(self, pending: PendingAuthorization, query: str, params: Mapping[str, str]) -> None:
        """Run the core's callback checks (state, browser, store, ``verify_callback``) on a genuine callback."""
        try:
            claimed = self.states.claim(params.get("state"), _BROWSER)
            check_callback(
                self.harness.platform, claimed, query=query, params=params, app=self.app, allow_loopback=True
            )
        except CallbackError as exc:
            hook = _REFUSED_BY.get(exc.reason, "build_authorization_url")
            raise ContractViolation(
                hook,
                "genuine callback accepted",
                f"the core refused the platform's genuine callback ({exc.reason}: {exc})",
                _ACCEPT_ADVICE[hook],
            ) from exc
        except PluginError as exc:
            raise ContractViolation(
                exc.hook or "verify_callback",
                "genuine callback accepted",
                f"failed on the platform's genuine callback: {exc}",
                "return True or False; never raise",
            ) from exc

    async def exchange(
        self,
        params: Mapping[str, str],
        pending: PendingAuthorization,
        *,
        app: Credentials | None = None,
        code_verifier: Secret | None = None,
    ) -> Credentials:
        """Call ``complete_authorization`` as the hub does: a runtime on the store with no credentials."""
        h = self.harness
        verifier = pending.code_verifier if code_verifier is None else code_verifier
        async with h.runtime(credentials=Credentials({})) as rt:
            obtained: Credentials = await h.call(
                rt,
                "complete_authorization",
                params=params,
                app_credentials=app or self.app,
                redirect_uri=pending.redirect_uri,
                code_verifier=verifier,
            )
        self.objects.append(obtained)
        self.secrets += [v.reveal() for v in _secret_values(obtained)]
        return obtained


_REFUSED_BY = {
    "callback_unverified": "verify_callback",
    "wrong_store": "normalize_store_url",
    "invalid_callback": "platform_info",
}
_ACCEPT_ADVICE = {
    "verify_callback": "check the callback exactly as the platform signs it, with the app's client secret",
    "normalize_store_url": "make the store the callback names (OAuthFlow.store_parameter) normalise to the one entered",
    "platform_info": "declare OAuthFlow.store_parameter as the callback names the store, or None if it does not",
    "build_authorization_url": "send the state, scopes and redirect URI the core gives, unchanged",
}


def _secret_values(credentials: Credentials) -> list[Secret]:
    return [value for value in credentials.values() if isinstance(value, Secret)]


def _altered(text: str) -> str:
    """Return *text* with its last letters and digits changed, keeping its shape (length, classes)."""
    chars = list(text)
    changed = 0
    for i in range(len(chars) - 1, -1, -1):
        c = chars[i]
        if c.isdigit():
            chars[i] = str((int(c) + 1) % 10)
        elif "a" <= c <= "z":
            chars[i] = chr((ord(c) - 97 + 1) % 26 + 97)
        elif "A" <= c <= "Z":
            chars[i] = chr((ord(c) - 65 + 1) % 26 + 65)
        else:
            continue
        changed += 1
        if changed == 8:
            break
    return "".join(chars) if changed else text + "x"


def _url_violation(problem: str, advice: str) -> ContractViolation:
    return ContractViolation("build_authorization_url", "authorization URL", problem, advice)


# --------------------------------------------------------------------------- the authorization URL


def check_authorization_url(o: OAuthRun) -> None:
    """Check ``build_authorization_url``: absolute https, the state, exact redirect URI, scopes, no secret."""
    platform = o.harness.platform
    flow = platform.info.oauth
    if flow is None:
        raise ContractViolation(
            "platform_info", "OAuth flow", "declares no OAuth flow", "the OAuth rules need PlatformInfo.oauth"
        )
    client_id = str(o.app["client_id"])
    state = secrets.token_urlsafe(32)
    verifier = Secret(secrets.token_urlsafe(48)) if flow.pkce else None
    challenge = code_challenge(verifier) if verifier is not None else None
    try:
        url = platform.build_authorization_url(
            o.harness.store_url,
            client_id=client_id,
            scopes=flow.scopes,
            state=state,
            redirect_uri=o.redirect_uri,
            code_challenge=challenge,
        )
    except StorelinkError as exc:
        raise _url_violation(f"failed: {exc}", "build the URL from the arguments alone, with no I/O") from exc
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK):
        raise _url_violation(
            f"returned a {parts.scheme or 'relative'} URL ({parts.scheme}://{host}...)",
            "return an absolute https URL (http only for a simulator on a loopback address)",
        )
    if not host:
        raise _url_violation("returned a URL without a host", "return an absolute https URL")
    if "@" in parts.netloc:
        raise _url_violation("returned a URL with user info (user@host)", "leave user info out of the URL")
    if parts.fragment or "#" in url:
        raise _url_violation("returned a URL with a fragment (#...)", "put every parameter in the query")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise _url_violation("returned a URL holding blanks or control characters", "percent-encode the query")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    _exactly_once(pairs, "state", state, "send the state the core gives, unchanged, as state=")
    _exactly_once(
        pairs, "redirect_uri", o.redirect_uri, "send the redirect URI the core gives, exactly, as redirect_uri="
    )
    values = [value for _, value in pairs]
    if client_id not in values:
        raise _url_violation("does not carry the app's client id", "send the client_id the core gives")
    asked = {scope for value in values for scope in value.replace(",", " ").split()}
    missing = [scope for scope in flow.scopes if scope not in asked]
    if missing:
        raise _url_violation(
            f"does not ask for the scope {missing[0]!r} that OAuthFlow.scopes declares",
            "send every scope the core gives, in the platform's separator (space or comma)",
        )
    if challenge is not None and (challenge not in values or "S256" not in values):
        raise _url_violation(
            "does not carry the PKCE code challenge with code_challenge_method=S256, although OAuthFlow.pkce is set",
            "send code_challenge and code_challenge_method=S256, or declare pkce=False",
        )
    for secret in _secret_values(o.app):
        revealed = secret.reveal()
        if any(revealed in text for text in (url, unquote(url), unquote_plus(url), *values)):
            raise _url_violation(
                "puts an app secret (the client secret) in the URL the merchant's browser is sent to",
                "send only the client id; the secret goes in the code exchange alone",
            )
    o.begin()  # and the core takes it


def _exactly_once(pairs: list[tuple[str, str]], name: str, value: str, advice: str) -> None:
    found = [v for n, v in pairs if n == name]
    if not found:
        raise _url_violation(f"carries no {name}= parameter", advice)
    if len(found) > 1:
        raise _url_violation(f"carries {len(found)} {name}= parameters", advice)
    if found[0] != value:
        raise _url_violation(f"carries {name}={found[0]!r}, not the value given ({value!r})", advice)


# --------------------------------------------------------------------------- the callback check


def _segments(query: str) -> list[str]:
    return [segment for segment in query.split("&") if segment]


def _tampered(segment: str) -> str:
    name, sep, value = segment.partition("=")
    return f"{name}{sep or '='}{quote(_altered(unquote_plus(value)), safe='') if value else 'storelink-contract'}"


def _forgeries(query: str) -> Iterator[tuple[str, str]]:
    """Yield ``(what was done, forged query)`` for a genuine callback *query*."""
    segments = _segments(query)
    for i, segment in enumerate(segments):
        name = unquote_plus(segment.partition("=")[0])
        yield f"its {name!r} parameter changed", "&".join([*segments[:i], _tampered(segment), *segments[i + 1 :]])
        yield f"its {name!r} parameter removed", "&".join([*segments[:i], *segments[i + 1 :]])
        yield f"its {name!r} parameter repeated", "&".join([*segments, segment])
    yield "a parameter added (storelink_contract=1)", "&".join([*segments, "storelink_contract=1"])


def _verifies(o: OAuthRun, query: str, app: Credentials, what: str) -> bool:
    params = dict(parse_qsl(query, keep_blank_values=True))
    try:
        return o.harness.platform.verify_callback(query, params, app)
    except StorelinkError as exc:
        raise ContractViolation(
            "verify_callback",
            "callback verification",
            f"failed on a callback with {what}: {exc}",
            "return False for a callback that does not verify; never raise",
        ) from exc


def check_callback_verification(o: OAuthRun) -> None:
    """Check ``verify_callback``: it accepts the genuine callback and refuses every forgery of it."""
    pending = o.begin()
    query, params = o.callback(pending)
    o.accept(pending, query, params)
    if not _verifies(o, query, o.app, "nothing changed"):
        raise ContractViolation(
            "verify_callback",
            "callback verification",
            "refused the platform's genuine callback",
            "check the callback exactly as the platform signs it",
        )
    for what, forged in _forgeries(query):
        if _verifies(o, forged, o.app, what):
            raise ContractViolation(
                "verify_callback",
                "callback verification",
                f"accepted the callback with {what}",
                "check the signature over every parameter of the raw query, and refuse a query that repeats a name",
            )
    wrong = o.wrong_app()
    if wrong is not None and _verifies(o, query, wrong, "another app's secret"):
        raise ContractViolation(
            "verify_callback",
            "callback verification",
            "accepted the genuine callback when checked with another app's client secret",
            "key the check with app_credentials.secret('client_secret')",
        )


# --------------------------------------------------------------------------- the code exchange


async def _refused(
    o: OAuthRun,
    rule: str,
    pending: PendingAuthorization,
    params: Mapping[str, str],
    allowed: tuple[type[Any], ...],
    **kwargs: Any,
) -> None:
    names = " or ".join(cls.__name__ for cls in allowed)
    try:
        await o.exchange(params, pending, **kwargs)
    except allowed:
        return
    except StorelinkError as exc:
        raise ContractViolation(
            "complete_authorization",
            rule,
            f"raised {type(exc).__name__} ({exc}), not {names}",
            f"raise {names} when the platform refuses the exchange",
        ) from exc
    raise ContractViolation(
        "complete_authorization",
        rule,
        "returned credentials",
        f"check the platform's answer and raise {names} when it refuses the exchange",
    )


async def check_code_exchange(o: OAuthRun) -> None:
    """Check ``complete_authorization``: a genuine code gives working credentials; refusals are clean."""
    h = o.harness
    info = h.platform.info
    pending = o.begin()
    query, params = o.callback(pending)
    o.accept(pending, query, params)
    try:
        obtained = await o.exchange(params, pending)
    except StorelinkError as exc:
        raise ContractViolation(
            "complete_authorization",
            "genuine code exchanged",
            f"raised {type(exc).__name__} for a genuine callback: {exc}",
            "check the token request (path, body, where the client secret goes) against the platform's docs",
        ) from exc
    try:
        parsed = info.credential_schema.parse(obtained)
    except CredentialsError as exc:
        raise ContractViolation(
            "complete_authorization",
            "credentials fit the schema",
            f"returned credentials that do not fit credential_schema: {exc}",
            "return Credentials with the fields of PlatformInfo.credential_schema",
        ) from exc
    plain = [f.name for f in info.credential_schema.fields if f.secret and not isinstance(obtained.get(f.name), Secret)]
    if plain:
        raise ContractViolation(
            "complete_authorization",
            "credentials fit the schema",
            f"returned the secret field {plain[0]!r} as plain text",
            "wrap secret values in storelink.Secret",
        )
    await _authenticates(o, parsed)
    await _refused(o, "used code refused", pending, params, (CredentialsError,))
    wrong = o.wrong_app()
    if wrong is not None:
        again = o.begin()
        _, fresh = o.callback(again)
        await _refused(
            o, "wrong client secret refused", again, fresh, (ConfigurationError, CredentialsError), app=wrong
        )
    flow = info.oauth
    if flow is not None and flow.pkce:
        again = o.begin()
        _, fresh = o.callback(again)
        other = Secret(secrets.token_urlsafe(48))
        o.secrets.append(other.reveal())
        await _refused(o, "PKCE verifier sent", again, fresh, (CredentialsError,), code_verifier=other)


async def _authenticates(o: OAuthRun, credentials: Credentials) -> None:
    h = o.harness
    async with h.runtime(credentials=credentials) as rt:
        for audience in h.platform.info.audiences:
            try:
                token = await h.call(rt, "authenticate", audience=audience)
            except StorelinkError as exc:
                raise ContractViolation(
                    "complete_authorization",
                    "credentials authenticate",
                    f"returned credentials that authenticate refused for audience {audience!r}: {exc}",
                    "return the credentials the platform issued for the code, as authenticate reads them",
                ) from exc
            check_models("authenticate", [token], "token")
        try:
            report = await h.call(rt, "check_access")
        except StorelinkError as exc:
            raise ContractViolation(
                "complete_authorization",
                "credentials authenticate",
                f"returned credentials that check_access failed with: {exc}",
                "return the credentials the platform issued for the code",
            ) from exc
    if not report.ok:
        raise ContractViolation(
            "complete_authorization",
            "credentials authenticate",
            f"returned credentials denied {', '.join(c.value for c in report.missing)} although every scope was asked",
            "ask for the scopes each capability needs in OAuthFlow.scopes",
        )


# --------------------------------------------------------------------------- secrets


async def check_no_oauth_leaks(o: OAuthRun) -> None:
    """Run every OAuth rule with logs captured; no secret in a log, an error's text or a repr."""
    h = o.harness
    with h.logs.installed():
        check_authorization_url(o)
        if h.platform.implements("verify_callback"):
            check_callback_verification(o)
        await check_code_exchange(o)
        with contextlib.suppress(StorelinkError):  # a refused code, looked at below for secrets
            pending = o.begin()
            _, params = o.callback(pending)
            await o.exchange({**params, "code": _altered(params.get("code", "storelink-contract"))}, pending)
    found = sorted({s for s in [*o.secrets, *h.secret_values()] if len(s) >= 8}, key=len, reverse=True)
    for hook, line in h.logs.lines:
        for secret in found:
            if secret in line:
                raise ContractViolation(
                    hook,
                    "no secret in logs",
                    f"logged a secret: {line.replace(secret, '<the secret>')[:200]!r}",
                    "never log a client secret, code or token; log the Secret object, which masks itself",
                )
    for exc in h.errors:
        chain: BaseException | None = exc
        while chain is not None:
            text = f"{chain} {chain!r}"
            if any(secret in text for secret in found):
                raise ContractViolation(
                    getattr(chain, "hook", None) or "complete_authorization",
                    "no secret in errors",
                    f"raised an error ({type(chain).__name__}) whose text or attributes hold a secret",
                    "never put the client secret, the code or a token into an error; raise ... from None",
                )
            chain = chain.__cause__ or chain.__context__
    for obj in o.objects:
        text = f"{obj!r} {obj}"
        if any(secret in text for secret in found):
            raise ContractViolation(
                "complete_authorization",
                "no secret in reprs",
                f"returned a {type(obj).__name__} whose repr shows a secret",
                "hold secret values as storelink.Secret",
            )
