#!/usr/bin/env bash
# `lsync report` at scale (issue 15): a database of a full node's journal (JOURNAL_MB, 1 GiB:
# almost all head changes, as bench/journal.sh makes it) and a daemon log (LOG_MB, 2 GiB, as
# bench/run.sh makes it), then the report timed as a whole process (RUNS runs: min, median,
# peak RSS) with its size — and, in the same run on the same journal, jq answering the one
# question of the report operators answer today (the deep-reorg count), with lsync's ratio.
# Not a test: nothing here asserts a timing; the goals (≤ 10 s, ≤ 10 MB) are read off.
#
#   bench/report.sh
#   JOURNAL_MB=256 LOG_MB=256 RUNS=3 bench/report.sh     # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
JOURNAL_MB=${JOURNAL_MB:-1024}
LOG_MB=${LOG_MB:-2048}
RUNS=${RUNS:-3}
OUT=${OUT:-bench/out}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
bin=${BIN:-$CARGO_TARGET_DIR/release}
mkdir -p "$OUT"
. bench/lib.sh
need jq jq
[ -x /usr/bin/time ] || { (apt-get update -qq && apt-get install -y -qq time >/dev/null) || true; }
if [ -z "${BIN:-}" ]; then
  echo "building release binaries…" >&2
  cargo build --release --locked -q -p lsync -p lsync-fixtures
fi
journal_dir="$OUT/node-journal-full-node-$JOURNAL_MB"
if [ ! -f "$journal_dir/answers.json" ]; then
  echo "generating a ${JOURNAL_MB} MiB full-node journal…" >&2
  rm -rf "$journal_dir"
  "$bin/lsync-gen" --out "$journal_dir" --shape full-node --seed 42 --offset-hours 8 --size-mb "0,$JOURNAL_MB"
fi
log_dir="$OUT/data-n40/log-$LOG_MB"
if [ ! -f "$log_dir/answers.json" ]; then
  echo "generating a ${LOG_MB} MiB log…" >&2
  rm -rf "$log_dir"
  "$bin/lsync-gen" --out "$log_dir" --style v1.29-text --seed 42 --noise 40 --mpool 10 --widen-rate 0.05 --deep-reorg-rate 0.002 --max-blocks 8 --json-section --only log --size-mb "$LOG_MB,0"
fi
journal="$journal_dir/journal/lotus-journal.ndjson"
db="$OUT/report-$JOURNAL_MB-$LOG_MB.db"
if [ ! -f "$db" ]; then
  echo "ingesting…" >&2
  "$bin/lsync" ingest --db "$db" --node full-node -q "$journal_dir" >/dev/null
  "$bin/lsync" ingest --db "$db" --node full-node -q "$log_dir" >/dev/null
fi
echo "database $(du -h "$db" | cut -f1) from a $(du -h "$journal" | cut -f1) journal and a $(du -h "$log_dir" | tail -1 | cut -f1) log"
page="$OUT/report.html"
rm -f "$page"
times=()
for _ in $(seq 1 "$RUNS"); do
  times+=("$(timed "$bin/lsync" report --db "$db" --out "$page" -q)")
done
printf '%s\n' "${times[@]}" | sort -n | awk -v n="$RUNS" '{ t[NR] = $1; r[NR] = $2 } END { printf "lsync report: min %.2f s, median %.2f s, max %.2f s; peak RSS %.0f MiB (median run)\n", t[1], t[int((n + 1) / 2)], t[n], r[int((n + 1) / 2)] / 1024 }'
echo "page: $(stat -c %s "$page" | awk '{ printf "%.2f MB", $1 / 1e6 }'), $(grep -o 'class="fork"' "$page" | wc -l) fork picture(s), $(grep -o '<details id="trace-' "$page" | wc -l) trace(s), scope $(grep -o 'data-scope="[a-z]*"' "$page" | head -1)"
jq_t=$(timed sh -c "jq -c 'select(.Event == \"head_change\" and .Data.ApplyCount > 1 and .Data.RevertCount > 0)' '$journal' | wc -l")
lsync_t=$(printf '%s\n' "${times[@]}" | sort -n | awk -v n="$RUNS" 'NR == int((n + 1) / 2) { print $1 }')
echo "jq, the deep-reorg count alone over the same journal: $(echo "$jq_t" | cut -d' ' -f1) s"
awk -v a="$lsync_t" -v b="$(echo "$jq_t" | cut -d' ' -f1)" 'BEGIN { printf "ratio: the whole report takes %.2fx the time jq takes for one of its numbers\n", a / b }'
