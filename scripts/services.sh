#!/usr/bin/env bash
# Install and start the servers the tests need. Sourced by scripts/test.sh; each part
# exports the variables the tests read, and registers its own cleanup.
services_start() {
    chromium_install
}

# --- Chromium (browser tests of the connect page; owner: connect) -------------------
# Playwright cannot download its own browser here, so the tests drive Debian's
# chromium through STORELINK_CHROMIUM (Playwright's executable_path).
chromium_install() {
    local bin=/usr/bin/chromium
    if [ ! -x "$bin" ]; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            echo "   installing chromium with apt-get"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
        else
            echo "   chromium is missing and apt-get needs root: browser tests will skip (fail in CI)" >&2
            return 0
        fi
    fi
    export STORELINK_CHROMIUM="$bin"
    echo "   chromium: $("$bin" --version 2>/dev/null || echo "$bin")"
}
