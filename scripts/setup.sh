#!/usr/bin/env bash
# Installs what building, running and testing sgp-import need, and nothing
# that is already there: a second run installs nothing.
#   - the wasm32 target, cargo-leptos 0.3.10, the wasm-bindgen CLI of the
#     exact version in Cargo.lock
#   - Debian packages: chromium (browser tests), binaryen (wasm-opt for
#     release builds), postgresql (server binaries for the test database)
#   - the npm packages of end2end/
# Usage: scripts/setup.sh [--no-browser] [--tests]
#   --no-browser: skip chromium and npm
#   --tests: only what scripts/test.sh needs: no cargo-leptos (the tests'
#            bundle is built by scripts/bundle.sh) and no binaryen
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=1
want_leptos=1
for arg in "$@"; do
    case "$arg" in
        --no-browser) want_browser=0 ;;
        --tests) want_leptos=0 ;;
        *)
            echo "setup: unknown option $arg" >&2
            exit 2
            ;;
    esac
done

say() { echo "setup: $*"; }

CARGO_LEPTOS_VERSION=0.3.10

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

# The version a command reports (the second word of `--version`), or
# nothing when it is not on PATH. A command may be two words (cargo leptos).
version_of() {
    # shellcheck disable=SC2086 # split on purpose
    $1 --version 2>/dev/null | awk '{print $2}'
}

# Makes command $3 report version $2, installing crate $1 with cargo when
# it does not; further arguments go to `cargo install`. --force: cargo
# skips a crate its records say is installed even when the binary is gone
# from PATH, and this runs only when it is.
cargo_tool() {
    local crate=$1 version=$2 command=$3
    shift 3
    [ "$(version_of "$command")" = "$version" ] && return 0
    say "installing $crate $version (takes a while)"
    cargo install "$crate" --version "$version" --force "$@"
    if [ "$(version_of "$command")" != "$version" ]; then
        echo "setup: $crate $version was installed but is not the one on PATH" \
            "(is cargo's bin directory, ~/.cargo/bin, on PATH?)" >&2
        exit 1
    fi
}

if [ "$want_leptos" = 1 ]; then
    # 0.3.11 needs a newer rustc than this machine's 1.95.
    cargo_tool cargo-leptos "$CARGO_LEPTOS_VERSION" "cargo leptos" --locked
fi

# cargo-leptos and scripts/bundle.sh call the wasm-bindgen binary on PATH,
# which must match the wasm-bindgen crate exactly (cargo-leptos would
# otherwise try to download one).
wbg_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ -z "$wbg_version" ]; then
    echo "setup: cannot read the wasm-bindgen version from Cargo.lock" >&2
    exit 1
fi
# (no --locked: it fails here, the registry copy lacks one locked dependency)
cargo_tool wasm-bindgen-cli "$wbg_version" wasm-bindgen

apt_packages=()
if [ "$want_leptos" = 1 ] && ! command -v wasm-opt >/dev/null 2>&1; then
    apt_packages+=(binaryen)
fi
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_packages+=(postgresql)
fi
if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
    apt_packages+=(chromium)
fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
    say "installing Debian packages: ${apt_packages[*]}"
    sudo_cmd=()
    [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

if [ "$want_browser" = 1 ]; then
    # Reinstall only when package-lock.json changed since the last install.
    if [ ! -f end2end/node_modules/.package-lock.json ] ||
        [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
        say "installing end2end npm packages"
        # Playwright's own browser download is skipped: tests use /usr/bin/chromium.
        (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    fi
fi
