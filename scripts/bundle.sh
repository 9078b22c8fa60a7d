#!/usr/bin/env bash
# Builds the debug browser bundle into target/site as
# `cargo leptos build --frontend-only` (cargo-leptos 0.3.10) does, without
# cargo-leptos: the browser tests need only this, and compiling
# cargo-leptos is the longest step of a fresh machine's test run (11 to 14
# minutes on 2 cores). `scripts/run.sh` and release builds still use
# cargo-leptos.
#
# The same cargo command, target directory, environment and RUSTFLAGS as
# cargo-leptos's debug front build, so the two share target/front and a
# `cargo leptos build` after this (or before) compiles nothing again. The
# style file is copied as it is: cargo-leptos runs it through lightningcss,
# which only lowers newer syntax for older browsers in a debug build, and
# the tests run in a current Chromium.
#
# Needs the wasm32 target and the wasm-bindgen CLI (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# Cargo.toml names these (cargo-leptos reads [package.metadata.leptos]);
# kept in one place there, read here: `toml_setting TABLE KEY`.
toml_setting() {
    local value
    value=$(awk -v table="[$1]" -v key="$2" '
        /^[ \t]*\[/ { line = $0; gsub(/[ \t\r]/, "", line); inside = (line == table); next }
        inside {
            line = $0
            sub(/[ \t\r]*#.*$/, "", line)
            if (line !~ "^[ \t]*\"?" key "\"?[ \t]*=") next
            sub(/^[^=]*=[ \t]*/, "", line)
            gsub(/["\047\r]/, "", line)
            sub(/[ \t]+$/, "", line)
            print line
            exit
        }
    ' Cargo.toml)
    if [ -z "$value" ]; then
        echo "bundle.sh: $2 is missing from [$1] in Cargo.toml" >&2
        exit 1
    fi
    echo "$value"
}
leptos_setting() { toml_setting package.metadata.leptos "$1"; }

package=$(toml_setting package name)
# an array of names: ["hydrate"] -> hydrate
lib_features=$(leptos_setting lib-features | tr -d '[] ')
lib_default_features=$(leptos_setting lib-default-features)
output_name=$(leptos_setting output-name)
site_root=$(leptos_setting site-root)
pkg_dir=$(leptos_setting site-pkg-dir)
style_file=$(leptos_setting style-file)
assets_dir=$(leptos_setting assets-dir)
site_addr=$(leptos_setting site-addr)
reload_port=$(leptos_setting reload-port)
target_dir="${CARGO_TARGET_DIR:-target}"
front_dir="$target_dir/front"
pkg="$site_root/$pkg_dir"

# cargo-leptos adds `--cfg erase_components` to the configured rustflags
# (.cargo/config.toml has it already) in a debug build.
export RUSTFLAGS="--cfg erase_components --cfg erase_components"
export LEPTOS_OUTPUT_NAME="$output_name"
export LEPTOS_SITE_ROOT="$site_root"
export LEPTOS_SITE_PKG_DIR="$pkg_dir"
export LEPTOS_SITE_ADDR="$site_addr"
export LEPTOS_RELOAD_PORT="$reload_port"
export LEPTOS_LIB_DIR=.
export LEPTOS_BIN_DIR=.
export LEPTOS_JS_MINIFY=false
export LEPTOS_HASH_FILES=false

cargo_args=(--package="$package" --lib --target-dir="$front_dir" --target=wasm32-unknown-unknown)
[ "$lib_default_features" = false ] && cargo_args+=(--no-default-features)
[ -n "$lib_features" ] && cargo_args+=(--features="$lib_features")
cargo build "${cargo_args[@]}"

# Like cargo-leptos, start from an empty site root: an asset removed from
# public/ or a file of an older build must not go on being served.
rm -rf "$site_root"
mkdir -p "$pkg"
wasm-bindgen --target=web --out-name="$output_name" --out-dir="$pkg" \
    "$front_dir/wasm32-unknown-unknown/debug/${package//-/_}.wasm"
# Leptos's hydration script asks for `<name>.wasm` (LEPTOS_OUTPUT_NAME set
# at compile time, see .cargo/config.toml), as cargo-leptos renames it.
mv -f "$pkg/${output_name}_bg.wasm" "$pkg/$output_name.wasm"
cp "$style_file" "$pkg/$output_name.css"
cp -R "$assets_dir/." "$site_root/"
echo "bundle.sh: $pkg/$output_name.{js,wasm,css} and the assets of $assets_dir/ in $site_root/"
