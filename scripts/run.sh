#!/usr/bin/env bash
# Runs sgp-import for a first look: installs what is missing, builds, and
# serves http://127.0.0.1:3000 on an SQLite file in data/, with the demo
# provider. Any setting can be overridden by its environment variable
# (see README.md), e.g. DATABASE_URL=postgres://... scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-browser
export DEMO="${DEMO:-true}"
exec cargo leptos serve
