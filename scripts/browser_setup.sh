#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests (tests/browser).
# Idempotent and quiet: does nothing when it is already there. Playwright drives this
# browser directly; `playwright install` (its own browser download) is never used.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

fail() {
    echo "browser_setup: $*" >&2
    echo "browser_setup: the browser tests need Debian's Chromium at $CHROMIUM;" \
         "install it with: apt-get update && apt-get install -y --no-install-recommends chromium" >&2
    exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found (not a Debian/Ubuntu machine)"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "not root and sudo is not available"
    SUDO="sudo -n"
fi

echo "browser_setup: installing Debian chromium (once)..." >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1; then
    cat "$log" >&2
    fail "apt-get update failed"
fi
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    fail "apt-get install chromium failed"
fi
[ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM is missing"
echo "browser_setup: $("$CHROMIUM" --version 2>/dev/null || echo chromium) ready" >&2
