#!/usr/bin/env bash
# The whole test suite: install, lint, type-check, then every test (unit and the real sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/pytest "$@"
