#!/usr/bin/env bash
# Runs every test of sgp-import on a fresh machine: installs what is missing,
# finds or starts a PostgreSQL server, then runs formatting and lint checks,
# the Rust tests (SQLite and PostgreSQL) and the browser tests in Chromium.
# TEST_DATABASE_URL=postgres://... uses that server instead of starting one.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Each phase's duration is printed when the next one starts, and all of
# them at the end, so a slow phase is plain to see.
started_at=$SECONDS
phase_name=""
phase_started=$SECONDS
phases=()
end_phase() {
    if [ -n "$phase_name" ]; then
        local took=$((SECONDS - phase_started))
        phases+=("$(printf '%5d s  %s' "$took" "$phase_name")")
        echo "--- $phase_name: ${took} s"
    fi
}
step() {
    end_phase
    phase_name="$*"
    phase_started=$SECONDS
    echo
    echo "==> $*"
}
summary() {
    end_phase
    phase_name=""
    echo
    echo "==> phases"
    printf '%s\n' "${phases[@]}"
    printf '%5d s  in all\n' $((SECONDS - started_at))
}

step "setup"
scripts/setup.sh --tests

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

step "browser bundle for the browser tests (scripts/bundle.sh)"
# The browser tests are served by the binary the Rust tests just built
# (target/debug/sgp-import, with the same features). Building the server
# again through cargo-leptos would compile its whole dependency graph a
# second time: without the dev-dependencies, the feature sets of reqwest,
# tokio and sqlx differ, so none of the test build's artifacts fit. The
# bundle is built as `cargo leptos build --frontend-only` builds it, by
# scripts/bundle.sh, so that a fresh machine need not compile cargo-leptos.
for bin in sgp-import fake-sgp; do
    if [ ! -x "target/debug/$bin" ]; then
        echo "test.sh: target/debug/$bin is missing; the Rust tests should have built it" >&2
        exit 1
    fi
done
scripts/bundle.sh

step "browser tests (Chromium)"
(cd end2end && npx playwright test)
echo "screenshots: end2end/screenshots/"
summary
