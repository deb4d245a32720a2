#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (never `playwright
# install`, which downloads a browser build from the internet). Install the Debian
# packages when running as root; otherwise stop and say what to do.
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (Debian packages) for the browser tests"
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }; then
        exit 0
    fi
fi
cat >&2 <<'MSG'
The browser tests need Chromium at /usr/bin/chromium, and it could not be installed here.
Install it (Debian/Ubuntu: sudo apt-get install chromium chromium-driver), or point CHROMIUM
at another Chromium binary.
MSG
exit 1
