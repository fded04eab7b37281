#!/usr/bin/env bash
# Screenshots of every console page into docs/console/, taken by the
# console's browser tests (headless Debian chromium) against a real stack,
# and of a delivery in the Temporal UI into docs/ (e2e/temporalui_test.go).
set -euo pipefail
source "$(dirname "$0")/stack.sh"
DATA="$ROOT/.data/test"
mkdir -p "$DATA"
trap stop_started EXIT
if [ -z "${DATABASE_URL:-}" ]; then ensure_postgres "$DATA/pg" 25433 webhooks_test; export DATABASE_URL="$PG_URL"; fi
if [ -z "${TEMPORAL_ADDRESS:-}" ]; then start_temporal 7243 8243; export TEMPORAL_ADDRESS=127.0.0.1:7243 TEMPORAL_UI_URL=http://127.0.0.1:8243; fi
# Chromium, and a CJK font so the Simplified Chinese pages render.
if ! command -v chromium >/dev/null || ! fc-list | grep -qi 'wenquanyi\|noto sans cjk'; then
  apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
fi
mkdir -p "$ROOT/docs/console"
cd "$ROOT" && CONSOLE_SCREENSHOTS="$ROOT/docs/console" go test -count=1 -run Browser ./internal/console/
cd "$ROOT" && TEMPORAL_UI_SCREENSHOTS="$ROOT/docs" go test -count=1 -run TestTemporalUITellsTheStory ./e2e/
