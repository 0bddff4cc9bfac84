#!/usr/bin/env bash
# The whole test suite: install, lint, type-check, build the user guide, then every test (unit
# and the real sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
shellcheck scripts/*.sh
bash scripts/docs.sh
.venv/bin/pytest "$@"
