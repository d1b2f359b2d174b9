"""What went wrong, in words a merchant can act on.

The pages and the JSON API turn a storelink error into one :class:`Failure`: a
stable ``code`` for programs, a message for people, the form field at fault and the
HTTP status the API answers with. Messages are written here, from the error's type
and structured fields; they never contain what the merchant typed into a secret field.
"""

from __future__ import annotations

from attrs import frozen

from storelink.errors import (
    AuthorizationError,
    CredentialsError,
    EgressError,
    PlatformError,
    PluginError,
    RetryableError,
    StorelinkError,
    StoreURLError,
)
from storelink.models import Capability, PlatformInfo
from storelink.onboarding import CallbackError
from storelink.redaction import safe_to_echo, scrub

__all__ = [
    "STORE_URL_FIELD",
    "Failure",
    "authorization_rejected",
    "callback_failure",
    "describe_failure",
    "missing_permission",
    "not_configured",
    "timed_out",
]

#: The field name of the store URL, in forms and in ``Failure.field``.
STORE_URL_FIELD = "store_url"


@frozen(kw_only=True)
class Failure:
    """Why a step failed.

    :param code: Stable machine code (``key_rejected``...), listed in ``docs/connect.md``.
    :param message: What the merchant reads.
    :param field: The form field at fault (``store_url`` or a credential field), or
        ``None`` for the form as a whole.
    :param status: The HTTP status the JSON API answers with.
    :param retry_after: Seconds to wait before trying again, when known.
    """

    code: str
    message: str
    field: str | None = None
    status: int = 422
    retry_after: float | None = None

    def to_json(self) -> dict[str, object]:
        """Return the ``error`` object of the JSON API."""
        body: dict[str, object] = {"code": self.code, "message": self.message, "field": self.field}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


#: What each capability lets a key do, the way the messages say it.
_CAPABILITY_VERBS: dict[str, str] = {
    Capability.PRODUCTS: "read products",
    Capability.ORDERS: "read orders",
    Capability.CREATE_ORDERS: "create orders",
    Capability.INVENTORY: "read inventory",
    Capability.SHIPPING_METHODS: "read shipping methods",
}


def _key_field(info: PlatformInfo) -> str | None:
    fields = info.credential_schema.fields
    return next((f.name for f in fields if f.secret), fields[0].name if fields else None)


def missing_permission(info: PlatformInfo, capability: str | None) -> Failure:
    """Return the failure for a key that works but lacks *capability*."""
    verb = _CAPABILITY_VERBS.get(capability or "", f"use {capability}" if capability else "do what storelink needs")
    return Failure(
        code="permission_missing",
        message=(
            f"The key works, but {info.title} does not allow it to {verb}. "
            f"Give the application that permission in {info.title}, or use a key that has it, then try again."
        ),
        field=_key_field(info),
    )


def timed_out(info: PlatformInfo, seconds: float) -> Failure:
    """Return the failure for a check that did not finish within *seconds*."""
    return Failure(
        code="platform_unavailable",
        message=f"{info.title} did not answer within {seconds:g} seconds. Try again in a minute.",
        status=503,
    )


#: The API status of each refused OAuth callback.
_CALLBACK_STATUS: dict[str, int] = {
    "state_missing": 400,
    "state_unknown": 400,
    "state_expired": 410,
    "state_used": 410,
    "other_browser": 403,
    "invalid_callback": 400,
    "callback_unverified": 400,
    "invalid_delivery": 400,
    "busy": 503,
}


def callback_failure(exc: CallbackError) -> Failure:
    """Return the failure for a refused OAuth callback (its code is the error's reason)."""
    return Failure(code=exc.reason, message=exc.message, status=_CALLBACK_STATUS.get(exc.reason, 422))


def not_configured(info: PlatformInfo) -> Failure:
    """Return the failure for an OAuth platform the channel has no app credentials on."""
    return Failure(
        code="app_not_configured",
        message=(
            f"This app is not set up to connect {info.title} stores yet. Tell the app's support; "
            "the operator can find the details in the server log."
        ),
        status=503,
    )


def authorization_rejected(info: PlatformInfo) -> Failure:
    """Return the failure for an authorization code the platform refused to exchange."""
    return Failure(
        code="authorization_rejected",
        message=(
            f"{info.title} did not accept the sign-in: it may have expired or already been used. "
            "Start again and approve the access."
        ),
    )


def describe_failure(
    exc: StorelinkError, info: PlatformInfo, store_url: str | None = None, *, typed: str | None = None
) -> Failure:
    """Return the :class:`Failure` for *exc*, raised while connecting to *info*'s platform.

    :param store_url: The normalised store URL, for messages that name it.
    :param typed: For a refused store URL, what was typed: a message that quotes it
        quotes it without credentials (see :func:`refused_message`).
    """
    where = store_url or "the store"
    if isinstance(exc, StoreURLError):
        return Failure(code="invalid_store_url", message=refused_message(exc, typed), field=STORE_URL_FIELD)
    if isinstance(exc, EgressError):
        return Failure(
            code="store_url_refused",
            message=(
                f"{where} points to a private or local network address, which storelink does not connect to. "
                "Enter the store's public address."
            ),
            field=STORE_URL_FIELD,
        )
    if isinstance(exc, CallbackError):
        return callback_failure(exc)
    if isinstance(exc, AuthorizationError):
        return missing_permission(info, exc.capability)
    if isinstance(exc, CredentialsError):
        return Failure(
            code="key_rejected",
            message=(
                f"{info.title} rejected this key. Check that you copied all of it, that it belongs to {where}, "
                "and that it has not been revoked or deactivated."
            ),
            field=exc.field or _key_field(info),
        )
    if isinstance(exc, RetryableError) and exc.status is None:
        return Failure(
            code="store_unreachable",
            message=(
                f"We could not reach {where}. Check the store URL, or try again in a minute if the store is down."
            ),
            status=502,
            retry_after=exc.retry_after,
        )
    if isinstance(exc, RetryableError):
        return Failure(
            code="platform_unavailable",
            message=f"{info.title} is not available right now (HTTP {exc.status}). Try again in a few minutes.",
            status=503,
            retry_after=exc.retry_after,
        )
    if isinstance(exc, PlatformError):
        said = f": {exc.message.rstrip('.')}" if exc.message else ""
        return Failure(code="platform_error", message=f"{info.title} refused the request{said}.", status=502)
    if isinstance(exc, PluginError):
        return Failure(
            code="plugin_error",
            message=f"The {info.title} plugin failed. The operator can find the details in the server log.",
            status=500,
        )
    return Failure(
        code="internal_error",
        message="Something went wrong on our side. The operator can find the details in the server log.",
        status=500,
    )


def refused_message(exc: StoreURLError, typed: str | None) -> str:
    """*exc*'s message, fit to show: the typed address it may quote loses its credentials.

    A plugin's message may quote what the merchant typed; that text may carry a
    ``user:password@``, a ``?key=...`` or a ``#token=...``. The quote is replaced with
    :func:`~storelink.redaction.safe_to_echo` of it, and the whole message scrubbed.
    """
    message = exc.message
    quoted = (typed or "").strip()
    if quoted:
        message = message.replace(quoted, safe_to_echo(quoted).strip())
    return scrub(message)
