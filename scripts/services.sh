#!/usr/bin/env bash
# Install and start the servers the tests need. Sourced by scripts/test.sh; each part
# exports the variables the tests read, and registers its own cleanup with
# services_at_exit (one EXIT trap runs every part's cleanup, last registered first).

_SERVICES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_SERVICES_CLEANUP=()

# services_at_exit COMMAND...: run COMMAND when the sourcing shell exits.
services_at_exit() {
    _SERVICES_CLEANUP+=("$*")
    trap _services_cleanup EXIT
    if [[ $- != *i* ]]; then
        # In a script, turn Ctrl-C and kill into an exit, so the EXIT trap runs then too.
        trap 'exit 130' INT
        trap 'exit 143' TERM
    fi
}

_services_cleanup() {
    local i
    for ((i = ${#_SERVICES_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${_SERVICES_CLEANUP[i]}" || true
    done
}

# ---------------------------------------------------------------------------- PostgreSQL
# A throwaway cluster on 127.0.0.1 (a free port, no Unix socket, trust auth for the
# loopback only), kept between runs in .services/pg (started each run, or shared when
# one is already running from there), and a database of this run's own: exports
# STORELINK_TEST_POSTGRES_URL. Debian's postgresql package is installed when no server
# is found. A URL already in the environment is used as is.

_pg_bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
        echo "$dir"
    fi
}

_pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

postgres_start() {
    if [[ -n "${STORELINK_TEST_POSTGRES_URL:-}" ]]; then
        echo "postgres: using STORELINK_TEST_POSTGRES_URL from the environment"
        return 0
    fi
    local bindir
    bindir="$(_pg_bindir)"
    if [[ -z "$bindir" ]]; then
        if [[ "$(id -u)" != 0 ]]; then
            echo "postgres: no PostgreSQL server found; install Debian's postgresql package" >&2
            return 1
        fi
        echo "postgres: installing Debian's postgresql package"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
        bindir="$(_pg_bindir)"
        [[ -n "$bindir" ]] || { echo "postgres: initdb not found after installing" >&2; return 1; }
    fi

    # PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
    local -a as_owner=()
    local base="${_SERVICES_ROOT}/.services/pg"
    mkdir -p "$base"
    if [[ "$(id -u)" == 0 ]]; then
        id -u postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/false postgres
        as_owner=(runuser -u postgres --)
        chown postgres "$base"
        if ! "${as_owner[@]}" test -w "$base"; then
            # The work tree is closed to other users: keep the cluster in a temporary directory.
            base="$(mktemp -d "${TMPDIR:-/tmp}/storelink-pg.XXXXXX")"
            chown postgres "$base"
        fi
    fi
    local data="$base/data" log="$base/server.log" port
    if "${as_owner[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        # Left by a run that was killed, or another run in this tree: share it.
        port="$(sed -n 4p "$data/postmaster.pid")"
        echo "postgres: reusing the server already running from $data"
    else
        rm -f "$data/postmaster.pid"
        if [[ ! -f "$data/PG_VERSION" ]]; then
            rm -rf "$data"
            "${as_owner[@]}" "$bindir/initdb" -D "$data" -U storelink -A trust -E UTF8 --no-locale --no-sync \
                >"$base/initdb.log" 2>&1 || { cat "$base/initdb.log" >&2; return 1; }
        fi
        port="$(_pg_free_port)"
        # fsync off: a crash loses a test database, nothing else.
        if ! "${as_owner[@]}" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 30 start -o \
            "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null; then
            cat "$log" >&2
            return 1
        fi
        services_at_exit "${as_owner[*]} '$bindir/pg_ctl' -D '$data' -m fast -w stop >/dev/null 2>&1"
    fi

    # A database of this run's own, so runs sharing a server do not see each other.
    local admin="postgresql://storelink@127.0.0.1:$port/postgres" db="storelink_test_$$"
    "$bindir/psql" "$admin" -qAt -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    services_at_exit "'$bindir/psql' '$admin' -qAt -c 'DROP DATABASE IF EXISTS $db WITH (FORCE)' >/dev/null 2>&1"
    export STORELINK_TEST_POSTGRES_URL="postgresql://storelink@127.0.0.1:$port/$db"
    echo "postgres: $("$bindir/postgres" --version) on 127.0.0.1:$port, database $db"
}

# ---------------------------------------------------------------------------- Redis
# The Celery integration's broker and lock store: Debian's redis-server on 127.0.0.1 (a
# free port, no Unix socket, nothing saved to disk), kept in .services/redis and shared
# with a run that already started it there: exports STORELINK_TEST_REDIS_URL. The
# package is installed when no server is found. A URL already in the environment is
# used as is. Runs sharing a server keep apart by queue name (the tests pick their own).

_redis_ping() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
}

redis_start() {
    if [[ -n "${STORELINK_TEST_REDIS_URL:-}" ]]; then
        echo "redis: using STORELINK_TEST_REDIS_URL from the environment"
        return 0
    fi
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        if [[ "$(id -u)" != 0 ]]; then
            echo "redis: no redis-server found; install Debian's redis-server package" >&2
            return 1
        fi
        echo "redis: installing Debian's redis-server package"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    fi
    local base="${_SERVICES_ROOT}/.services/redis" port
    mkdir -p "$base"
    if [[ -f "$base/port" ]] && port="$(cat "$base/port")" && _redis_ping "$port"; then
        echo "redis: reusing the server already running from $base"
    else
        port="$(_pg_free_port)"
        rm -f "$base/redis.pid"
        redis-server --bind 127.0.0.1 --port "$port" --unixsocket "" --daemonize yes --dir "$base" \
            --pidfile "$base/redis.pid" --logfile "$base/server.log" --save "" --appendonly no \
            --protected-mode yes >/dev/null || { cat "$base/server.log" >&2; return 1; }
        local i
        for ((i = 0; i < 100; i++)); do
            _redis_ping "$port" && break
            sleep 0.1
        done
        _redis_ping "$port" || { echo "redis: the server did not answer on 127.0.0.1:$port" >&2; cat "$base/server.log" >&2; return 1; }
        echo "$port" >"$base/port"
        services_at_exit "redis-cli -h 127.0.0.1 -p $port shutdown nosave >/dev/null 2>&1; rm -f '$base/port'"
    fi
    export STORELINK_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    echo "redis: $(redis-server --version | cut -d' ' -f1-3) on 127.0.0.1:$port"
}

# ---------------------------------------------------------------------------- Chromium
# The connect page's browser tests drive Debian's chromium through Playwright (which
# cannot download its own browser here): installs it when missing and exports
# STORELINK_CHROMIUM, Playwright's executable_path. Without it the browser tests skip,
# except under CI, where they fail.

chromium_install() {
    local bin=/usr/bin/chromium
    if [[ ! -x "$bin" ]]; then
        if [[ "$(id -u)" != 0 ]]; then
            echo "chromium: not found, and installing it needs root (apt-get install chromium)" >&2
            return 0
        fi
        echo "chromium: installing Debian's chromium package"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
    fi
    export STORELINK_CHROMIUM="$bin"
    echo "chromium: $("$bin" --version 2>/dev/null || echo "$bin")"
}

services_start() {
    postgres_start
    redis_start
    chromium_install
}
