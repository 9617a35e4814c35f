#!/usr/bin/env bash
# Crash safety by hand, on a file of the user's size (issue 14): KILLS times, a fresh database,
# an ingest killed with SIGKILL at a random moment, then the same ingest run to completion; the
# result must equal a clean run's — `events --json` (hashed) and every stored row — and pass
# SQLite's integrity check. tests/crash.rs does the same on a small file in `cargo test`.
#
#   bench/kill.sh FILE [KILLS]          (BIN=dir of the lsync binary, default target/release)
set -euo pipefail
file=$1
kills=${2:-20}
bin=${BIN:-${CARGO_TARGET_DIR:-target}/release}/lsync
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fresh() { rm -f "$1" "$1-wal" "$1-shm"; }
# Everything stored, in an order that does not depend on insertion (rowids excluded).
rows() {
  python3 - "$1" <<'PY'
import hashlib, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
h = hashlib.sha256()
for q in ["SELECT id, source_id, kind, n_events, first_line, last_line, min_ts, max_ts, min_height, max_height, hex(data) FROM segments ORDER BY id",
          "SELECT part, bucket, first_segment, hex(entries) FROM cid_postings ORDER BY part, bucket, first_segment",
          "SELECT part FROM posting_parts ORDER BY part",
          "SELECT event_id, ts_ns, ts_off, ts_prec, from_height, to_height, revert_count, apply_count, to_n, class, hex(cids) FROM head_changes ORDER BY event_id",
          "SELECT byte_offset, next_line, lines, blank, other_records, continuation_lines, events, malformed, unknown FROM sources ORDER BY id"]:
    for r in c.execute(q):
        h.update(repr(r).encode())
ok = c.execute("PRAGMA integrity_check").fetchone()[0]
print(h.hexdigest(), ok)
PY
}
events() { "$bin" events --json --db "$1" | sha256sum | cut -c1-16; }
clean="$work/clean.db"
fresh "$clean"
start=$(date +%s.%N)
"$bin" ingest -q --db "$clean" --node n "$file" >/dev/null
took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')
want_rows=$(rows "$clean")
want_events=$(events "$clean")
echo "clean run: ${took} s; rows ${want_rows}; events --json ${want_events}"
bad=0
for i in $(seq "$kills"); do
  db="$work/k.db"
  fresh "$db"
  at=$(awk -v t="$took" -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.02 + t * 0.7 * r / 32768 }')
  "$bin" ingest -q --db "$db" --node n "$file" >/dev/null 2>&1 &
  pid=$!
  sleep "$at"
  kill -9 "$pid" 2>/dev/null && killed=yes || killed="no (finished first)"
  wait "$pid" 2>/dev/null || true
  "$bin" ingest -q --db "$db" --node n "$file" >/dev/null
  got_rows=$(rows "$db")
  got_events=$(events "$db")
  verdict=same
  if [ "$got_rows" != "$want_rows" ] || [ "$got_events" != "$want_events" ]; then verdict=DIFFERENT; bad=$((bad + 1)); fi
  echo "kill $i at ${at} s (killed: $killed): $verdict"
done
echo "$kills kills, $bad different"
[ "$bad" -eq 0 ]
