#!/usr/bin/env bash
# Creates the virtualenv ($VENV, default .venv) with $PYTHON (default
# python3.11, else python3) if it does not exist or is broken. On Debian the
# venv module lives in a separate package (python3.X-venv); when it is
# missing and we are root, it is installed with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
    PYTHON=$(command -v python3.11 || command -v python3 || true)
fi
if [ -z "$PYTHON" ]; then
    echo "ensure-venv: no python3.11 or python3 found in PATH" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "ensure-venv: $PYTHON is $("$PYTHON" -V 2>&1); creditcycle needs Python >= 3.11" >&2
    exit 1
fi

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    exit 0
fi

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else return 1
    fi
}

rm -rf "$VENV"
if ! "$PYTHON" -m venv "$VENV"; then
    pyver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    echo "ensure-venv: '$PYTHON -m venv' failed; installing python${pyver}-venv with apt-get" >&2
    rm -rf "$VENV"
    if ! command -v apt-get >/dev/null 2>&1 \
        || ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update \
        || ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y \
            --no-install-recommends "python${pyver}-venv"; then
        echo "ensure-venv: could not install python${pyver}-venv; install it and re-run" >&2
        exit 1
    fi
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip --version
