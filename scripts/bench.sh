#!/usr/bin/env bash
# Runs the job engine and import benchmarks (release builds) on SQLite and
# PostgreSQL, then the engine beside graphile-worker (scripts/side-by-side.sh)
# and the app under load (scripts/load.sh), and prints their figures.
# PostgreSQL: TEST_DATABASE_URL, else 127.0.0.1:5432, else a throw-away
# cluster. BENCH_JOBS, BENCH_SLOTS,
# BENCH_HISTORY and BENCH_CUSTOMERS size the runs; BENCH_PARTS picks the
# parts (default "jobs import search side load").
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
trap pg_throwaway_stop EXIT
pg_for_tests
export BENCH_DATABASE_URL="$TEST_DATABASE_URL"
parts=" ${BENCH_PARTS:-jobs import search side load} "
if [[ $parts == *" jobs "* ]]; then
    cargo run --release -q -p sgp-import-core --features server --bin bench
fi
if [[ $parts == *" import "* ]]; then
    cargo bench -q -p sgp-import-core --features server --bench import
fi
if [[ $parts == *" search "* ]]; then
    cargo bench -q -p sgp-import-core --features server --bench search
fi
if [[ $parts == *" side "* ]]; then
    scripts/side-by-side.sh
fi
if [[ $parts == *" load "* ]]; then
    scripts/load.sh
fi
