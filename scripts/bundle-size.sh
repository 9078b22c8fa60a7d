#!/usr/bin/env bash
# Builds the browser bundle as production serves it (cargo leptos build
# --release --frontend-only: wasm-release profile, wasm-opt, minified JS)
# and prints each file's size, raw and gzipped (what travels to the browser
# with the server's gzip compression).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo leptos build --release --frontend-only >/dev/null
total=0
for f in target/site/pkg/*.wasm target/site/pkg/*.js target/site/pkg/*.css; do
    raw=$(stat -c %s "$f")
    gz=$(gzip -9 -c "$f" | wc -c)
    total=$((total + gz))
    printf '%-36s %8d bytes raw  %8d bytes gzip (%d KB)\n' "$f" "$raw" "$gz" $((gz / 1024))
done
printf 'total over the wire (gzip): %d KB (target: WASM under 400 KB)\n' $((total / 1024))
