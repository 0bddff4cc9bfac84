#!/usr/bin/env bash
# Build the user guide (docs/, MkDocs with the Material theme from Debian) in strict mode: a
# broken link, a page missing from the nav or a nav entry without a page fails the build.
# docs/options.md is generated from hoplab's own option definitions, never written by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
if ! "$python" -c 'import hoplab.options' 2>/dev/null; then
  echo "docs: hoplab.options is missing; it generates docs/options.md" >&2
  exit 1
fi
"$python" -m hoplab.options >docs/options.md
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
mkdocs build --strict --quiet -d "$site"
echo "docs: built ($(find "$site" -name '*.html' | wc -l) pages)"
