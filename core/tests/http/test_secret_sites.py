"""Static check: where ``Secret.reveal()`` is called in the source tree, pinned (T2.7).

The HTTP layer reveals a secret in exactly one place, where the ``Authorization``
header is built. Every other call site is listed here with its reason; a new one makes
this test fail until someone decides it belongs on the list.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

ALLOWED = {
    # The one place a secret leaves the process over the network.
    "core/src/storelink/http/auth.py": 1,
    # CredentialSchema.parse re-wraps a Secret it was given (strip, validate, new Secret).
    "core/src/storelink/credentials.py": 1,
    # The vault seals a connection's credentials and shared tokens (encrypted at rest).
    "core/src/storelink/vault/sealing.py": 1,
    # Onboarding derives the PKCE challenge (a hash) from the verifier it keeps server side.
    "core/src/storelink/onboarding.py": 1,
    # A stored pending authorization seals its PKCE verifier, and the credentials an
    # approval flow's platform POSTed, into the vault (encrypted at rest).
    "core/src/storelink/connect/stored.py": 2,
    # The contract kit's leak scans need the values they search for (and the OAuth rules
    # alter an app secret to check that a wrong one is refused).
    "core/src/storelink/testing/harness.py": 3,
    "core/src/storelink/testing/live.py": 1,
    "core/src/storelink/testing/oauth.py": 6,
    # The browser kit's stand-in channel hashes its API token for the Channel record and
    # sends it as the bearer of its session request (a synthetic token, never printed).
    "core/src/storelink/testing/browser.py": 2,
    # The demo hands the credentials its simulator issued (OAuth) back to the simulator's
    # uninstall control, revoke_credentials (never printed).
    "core/src/storelink/cli/demo.py": 1,
    # The OCC plugin reads the application key's (unverified) expiry claim.
    "plugins/occ/src/storelink_occ/credentials.py": 1,
    # The WooCommerce plugin builds the HTTP Basic credential (base64 of key:secret).
    "plugins/woocommerce/src/storelink_woocommerce/auth.py": 1,
    # Shopify's install: the app secret keys the callback's HMAC and goes in the code exchange's body.
    "plugins/shopify/src/storelink_shopify/oauth.py": 2,
}


def reveal_sites() -> Counter[str]:
    sources = [*ROOT.glob("core/src/**/*.py"), *ROOT.glob("plugins/*/src/**/*.py")]
    return Counter(
        {
            str(path.relative_to(ROOT)): n
            for path in sources
            if (n := len(re.findall(r"\.reveal\(", path.read_text(encoding="utf-8"))))
        }
    )


def test_reveal_is_called_only_at_the_pinned_sites() -> None:
    assert dict(reveal_sites()) == ALLOWED


def test_the_http_layer_reveals_in_exactly_one_place() -> None:
    http = {path: n for path, n in reveal_sites().items() if path.startswith("core/src/storelink/http/")}
    assert http == {"core/src/storelink/http/auth.py": 1}
    source = (ROOT / "core/src/storelink/http/auth.py").read_text(encoding="utf-8")
    assert "request.headers[placement[0]] = placement[1] + secret.reveal()" in source
