#!/usr/bin/env bash
# Runs every test of sgp-import on a fresh machine: installs what is missing,
# finds or starts a PostgreSQL server, then runs formatting and lint checks,
# the Rust tests (SQLite and PostgreSQL) and the browser tests in Chromium.
# TEST_DATABASE_URL=postgres://... uses that server instead of starting one.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { echo; echo "==> $*"; }

step "setup"
scripts/setup.sh

step "formatting and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --features sgp-import/ssr,sgp-import-core/server -- -D warnings
cargo clippy -p sgp-import --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings

step "PostgreSQL"
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
trap pg_throwaway_stop EXIT
if ! pg_for_tests; then
    echo "test.sh: no PostgreSQL server could be found or started" >&2
    exit 1
fi

step "Rust tests (SQLite and PostgreSQL)"
cargo test --workspace --features sgp-import/ssr,sgp-import-core/server

step "browser tests (Chromium)"
cargo leptos build
(cd end2end && npx playwright test)
echo "screenshots: end2end/screenshots/"
