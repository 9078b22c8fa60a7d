#!/usr/bin/env bash
# The app under load (issue 17, item 5): goose (crates/loadtest) drives 200
# admins' dashboards (list + counts + active cards every 5 s) and 50
# progress streams while a 100,000-customer import runs on the release
# server binary, on SQLite and on PostgreSQL; rounds alone and under load
# alternate, 3 of each, each on a fresh database. Prints every round, the
# dashboard's p95 during the import, the errors (the command fails if there
# are any) and the import's speed under load against alone.
#
# LOAD_CUSTOMERS, LOAD_ROUNDS, LOAD_DASHBOARDS, LOAD_STREAMS, LOAD_ACCOUNTS
# size the run; LOAD_SKIP_SQLITE=1 runs PostgreSQL only. PostgreSQL as
# scripts/bench.sh finds it: TEST_DATABASE_URL, else 127.0.0.1:5432, else a
# throw-away cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
# from bench.sh, TEST_DATABASE_URL names its server (PG_THROWAWAY_DIR is
# not exported, so the trap stops nothing of bench.sh's)
trap pg_throwaway_stop EXIT
pg_for_tests
export LOAD_DATABASE_URL="${LOAD_DATABASE_URL:-$TEST_DATABASE_URL}"
PSQL=$(pg_bin psql)
export PSQL
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q --features ssr --bin sgp-import
export LOAD_APP="$target/release/sgp-import"
# a workspace of its own (the app's builds never compile goose); the same
# target directory, so what it shares with the app is built once
CARGO_TARGET_DIR="$target" cargo run --release -q --manifest-path crates/loadtest/Cargo.toml
