#!/usr/bin/env bash
# The job engine beside graphile-worker 0.17 (scripts/peer) on one
# PostgreSQL cluster: BENCH_JOBS (100,000) no-op jobs, the two run
# alternately (engine, peer, engine, peer...) BENCH_SIDE_RUNS times each
# (5), each run in a freshly created database with a CHECKPOINT before it;
# prints every run, both medians and their ratio. Then the engine as 2 and 4
# processes sharing one queue: total rate, and whether every job ran
# exactly once (the command fails if not).
#
# Usage: scripts/side-by-side.sh (PostgreSQL as scripts/bench.sh finds it:
# TEST_DATABASE_URL, else 127.0.0.1:5432, else a throw-away cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
# from bench.sh, TEST_DATABASE_URL names its server (PG_THROWAWAY_DIR is
# not exported, so the trap stops nothing of bench.sh's)
trap pg_throwaway_stop EXIT
pg_for_tests
admin="$TEST_DATABASE_URL"
psql=$(pg_bin psql)
runs=${BENCH_SIDE_RUNS:-5}
side_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/bench_side")))' "$admin")

npm ci --prefix scripts/peer --no-audit --no-fund --silent
cargo build --release -q -p sgp-import-core --features server --bin bench
bench="${CARGO_TARGET_DIR:-target}/release/bench"

fresh() {
    PGOPTIONS="-c client_min_messages=warning" "$psql" "$admin" -qX -c "DROP DATABASE IF EXISTS bench_side WITH (FORCE)" -c "CREATE DATABASE bench_side" -c "CHECKPOINT"
}

rate() { sed -n 's/.* = \([0-9]*\) jobs\/s.*/\1/p'; }

echo "## Side by side on PostgreSQL: ${BENCH_JOBS:-100000} no-op jobs, $runs runs each, alternating"
engine=()
peer=()
for i in $(seq 1 "$runs"); do
    fresh
    line=$("$bench" once "$side_url")
    echo "run $i, $line"
    engine+=("$(echo "$line" | rate)")
    fresh
    line=$(DATABASE_URL="$side_url" PEER_JOBS="${BENCH_JOBS:-100000}" node scripts/peer/graphile.mjs)
    echo "run $i, $line"
    peer+=("$(echo "$line" | rate)")
done
python3 - "${engine[*]}" "${peer[*]}" <<'EOF'
import statistics, sys
engine = [float(x) for x in sys.argv[1].split()]
peer = [float(x) for x in sys.argv[2].split()]
e, p = statistics.median(engine), statistics.median(peer)
print(f"engine median {e:.0f} jobs/s (runs {', '.join(f'{x:.0f}' for x in engine)})")
print(f"graphile-worker median {p:.0f} jobs/s (runs {', '.join(f'{x:.0f}' for x in peer)})")
print(f"ratio engine/graphile-worker: {e / p:.2f} (goal >= 1.5); "
      f"engine median against graphile-worker's best run ({max(peer):.0f}): {e / max(peer):.2f}")
EOF

echo "## The engine as several processes on one PostgreSQL queue"
for n in 1 2 4; do
    fresh
    if [ "$n" = 1 ]; then
        "$bench" once "$side_url"
    else
        "$bench" processes "$side_url" "$n"
    fi
done
PGOPTIONS="-c client_min_messages=warning" "$psql" "$admin" -qX -c "DROP DATABASE IF EXISTS bench_side WITH (FORCE)"
