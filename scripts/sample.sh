#!/usr/bin/env bash
# lsync's main job on the bundled sample data: ingest logs and journals of several Lotus
# versions and formats, then print the summary, the deep reorgs, the late miners and the trace
# of a late block and of an orphaned one. Uses a throw-away database (LSYNC_DB to keep one).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p lsync
lsync() { "${CARGO_TARGET_DIR:-target}/debug/lsync" "$@"; }
db=${LSYNC_DB:-$(mktemp -d)/lsync-sample.db}
export LSYNC_DB=$db

echo "== ingest (one node per Lotus version/format; real documentation samples as node 'docs')"
for dir in fixtures/generated/*/; do
  lsync ingest -q "$dir" --node "$(basename "$dir")"
done
lsync ingest fixtures/logs fixtures/samples --node docs
echo
echo "== lsync summary --node v1.29-text"
lsync summary --node v1.29-text
echo
echo "== lsync reorgs --min-apply 2   (what jq 'select(.Event==\"head_change\" and .Data.ApplyCount > 1 and .Data.RevertCount > 0)' finds, classified)"
lsync reorgs --min-apply 2
echo
echo "== lsync miners --min-delay 6"
lsync miners --min-delay 6
late=$(sed -n 's/.*"late_block": "\(bafy[a-z0-9]*\)".*/\1/p' fixtures/generated/v1.29-text/answers.json)
orphan=$(grep -A1 '"orphaned"' fixtures/generated/v1.29-text/answers.json | sed -n 's/.*"\(bafy[a-z0-9]*\)".*/\1/p' | head -1)
echo
echo "== lsync trace $late   (a late block)"
lsync trace "$late" --node v1.29-text
echo
echo "== lsync trace $orphan   (a block that lost to a sibling)"
lsync trace "$orphan" --node v1.29-text
echo
echo "Database: $db"
