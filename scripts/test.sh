#!/usr/bin/env bash
# Every check the project has, in the order that fails fastest. Run through
# `python3 scripts/dev.py test`, which prepares .venv and puts it on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== services (PostgreSQL, Redis, Chromium)"
# shellcheck source=scripts/services.sh
source scripts/services.sh
services_start

echo "== ruff"
ruff check .
ruff format --check .

echo "== mypy --strict"
mypy core/src plugins/occ/src plugins/shopify/src plugins/woocommerce/src plugins/_template/src integrations/celery/src docs/examples

echo "== docs (mkdocs --strict)"
mkdocs build --strict --quiet --site-dir "${TMPDIR:-/tmp}/storelink-site"

echo "== pytest -W error"
python -m pytest -W error --cov --cov-report=term "$@"
