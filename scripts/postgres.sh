# Sourced by scripts/test.sh (and usable by hand: `source scripts/postgres.sh`).
# Sets TEST_DATABASE_URL to a PostgreSQL server for the tests:
#   1. TEST_DATABASE_URL when already set;
#   2. else a server answering on 127.0.0.1:5432;
#   3. else a throw-away cluster (initdb + pg_ctl) in a temporary directory,
#      stopped and removed by pg_throwaway_stop (test.sh calls it on exit).

pg_bin() {
    # Debian keeps the server binaries out of PATH.
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    else
        ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n1
    fi
}

pg_throwaway_start() {
    local initdb pg_ctl port
    initdb=$(pg_bin initdb)
    pg_ctl=$(pg_bin pg_ctl)
    if [ -z "$initdb" ] || [ -z "$pg_ctl" ]; then
        echo "postgres.sh: initdb/pg_ctl not found; run scripts/setup.sh" >&2
        return 1
    fi
    PG_THROWAWAY_DIR=$(mktemp -d /tmp/sgp-import-pg.XXXXXX)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    local as_pg=()
    if [ "$(id -u)" = 0 ]; then
        # initdb refuses to run as root.
        chown postgres:postgres "$PG_THROWAWAY_DIR"
        as_pg=(runuser -u postgres --)
    fi
    "${as_pg[@]}" "$initdb" -D "$PG_THROWAWAY_DIR/data" -A trust -U postgres >"$PG_THROWAWAY_DIR/initdb.log" 2>&1 ||
        { cat "$PG_THROWAWAY_DIR/initdb.log" >&2; return 1; }
    "${as_pg[@]}" "$pg_ctl" -D "$PG_THROWAWAY_DIR/data" -l "$PG_THROWAWAY_DIR/server.log" -w \
        -o "-p $port -k $PG_THROWAWAY_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
        start >/dev/null ||
        { cat "$PG_THROWAWAY_DIR/server.log" >&2; return 1; }
    PG_THROWAWAY_CTL="$pg_ctl"
    PG_THROWAWAY_AS=("${as_pg[@]}")
    export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "postgres.sh: started a throw-away PostgreSQL on port $port"
}

pg_throwaway_stop() {
    if [ -n "${PG_THROWAWAY_DIR:-}" ]; then
        "${PG_THROWAWAY_AS[@]}" "$PG_THROWAWAY_CTL" -D "$PG_THROWAWAY_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$PG_THROWAWAY_DIR"
        PG_THROWAWAY_DIR=
    fi
}

pg_local_answers() {
    local isready
    isready=$(pg_bin pg_isready)
    [ -n "$isready" ] && "$isready" -q -h 127.0.0.1 -p 5432 -U postgres >/dev/null 2>&1
}

pg_for_tests() {
    if [ -n "${TEST_DATABASE_URL:-}" ]; then
        echo "postgres.sh: using TEST_DATABASE_URL"
    elif pg_local_answers; then
        export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
        echo "postgres.sh: using the server on 127.0.0.1:5432"
    else
        pg_throwaway_start
    fi
}
