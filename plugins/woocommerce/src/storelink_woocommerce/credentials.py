"""The credentials of a WooCommerce connection: a REST API consumer key and its secret.

The merchant creates them in the WordPress admin (WooCommerce > Settings > Advanced >
REST API > Add key), choosing a WordPress user and a permission: ``read``, ``write``
or ``read_write``. WooCommerce shows the pair once: ``ck_`` and ``cs_``, each followed
by 40 hexadecimal characters. Neither expires; both stop working when the key is
revoked (or its user deleted).

Both are secrets (the key alone identifies the store's key to an attacker), and both
travel only in the ``Authorization: Basic`` header, over HTTPS, never in a query string
(WooCommerce also accepts ``consumer_key``/``consumer_secret`` parameters; storelink
never sends them). Shapes are checked here so a half-pasted or swapped pair is caught
before any request; the store decides whether it is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from storelink import CredentialField, CredentialSchema, CredentialsError
from storelink.credentials import ApprovalFlow

__all__ = [
    "APPROVAL",
    "CONSUMER_KEY",
    "CONSUMER_SECRET",
    "CREDENTIAL_SCHEMA",
    "validate_consumer_key",
    "validate_consumer_secret",
]

#: The credential fields' names.
CONSUMER_KEY = "consumer_key"
CONSUMER_SECRET = "consumer_secret"  # noqa: S105  # a field name, not a secret

#: The key-approval flow (``wc-auth``, :mod:`storelink_woocommerce.approval`): read/write
#: keys, the core's state as ``user_id``.
APPROVAL = ApprovalFlow(scopes=("read_write",), state_parameter="user_id", declined=(("success", "0"),))

_WHERE = "WooCommerce > Settings > Advanced > REST API"
_HEX40 = r"[0-9a-f]{40}"


def _validator(name: str, label: str, prefix: str, other: str) -> Callable[[str], None]:
    shape = re.compile(prefix + _HEX40)

    def validate(value: str) -> None:
        if not value:
            raise CredentialsError(f"The {label} is empty.", field=name)
        if value.startswith(other):
            raise CredentialsError(
                f"That is the {'consumer secret' if other == 'cs_' else 'consumer key'}, not the {label}: "
                f"the {label} starts with '{prefix}'. The two fields may be swapped.",
                field=name,
            )
        if not shape.fullmatch(value):
            raise CredentialsError(
                f"A {label} is '{prefix}' followed by 40 hexadecimal characters; copy it again "
                f"from {_WHERE} (it is shown once, when the key is generated).",
                field=name,
            )

    validate.__name__ = f"validate_{name}"
    validate.__doc__ = f"Refuse a value that cannot be a {label}; the message never repeats it."
    return validate


validate_consumer_key = _validator(CONSUMER_KEY, "consumer key", "ck_", "cs_")
validate_consumer_secret = _validator(CONSUMER_SECRET, "consumer secret", "cs_", "ck_")

CREDENTIAL_SCHEMA = CredentialSchema(
    fields=(
        CredentialField(
            name=CONSUMER_KEY,
            label="Consumer key",
            secret=True,
            help=(
                f"In {_WHERE}, click Add key, pick a user who can manage WooCommerce (an "
                "Administrator or Shop Manager), set Permissions to Read/Write, and generate "
                "the key; copy the consumer key (ck_...)."
            ),
            example="ck_0123456789abcdef...",
            validator=validate_consumer_key,
        ),
        CredentialField(
            name=CONSUMER_SECRET,
            label="Consumer secret",
            secret=True,
            help="Shown once, beside the consumer key, when the key is generated (cs_...).",
            example="cs_0123456789abcdef...",
            validator=validate_consumer_secret,
        ),
    )
)
