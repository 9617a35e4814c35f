#!/usr/bin/env bash
# lsync benchmark: generates a large daemon log and journal with the fixtures generator, measures
# `lsync ingest` (MB/s, lines/s, peak RSS) and the latency of trace / reorgs / miners on the
# resulting database, and in the same run the baselines people use today on the same files:
# the operators' jq deep-reorg query and `grep -F <cid>` (and `rg -F` when installed).
#
#   bench/run.sh                      # 2 GiB log + 1 GiB journal (defaults)
#   LOG_MB=200 JOURNAL_MB=100 bench/run.sh   # a quick run
#
# Figures are printed as a Markdown table and written to $OUT/results.md. Not a test: nothing
# here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_MB=${LOG_MB:-2048}
JOURNAL_MB=${JOURNAL_MB:-1024}
OUT=${OUT:-bench/out}
RUNS=${RUNS:-5}
# Noise records (mpool, bitswap, markets, …) per epoch around the ~30 sync-pipeline lines.
NOISE=${NOISE:-40}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
mkdir -p "$OUT"

need() { command -v "$1" >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq "$2" >/dev/null) || true; }; }
need jq jq
[ -x /usr/bin/time ] || { (apt-get update -qq && apt-get install -y -qq time >/dev/null) || true; }

echo "building release binaries…" >&2
cargo build --release --locked -q -p lsync -p lsync-fixtures
bin="$CARGO_TARGET_DIR/release"
data="$OUT/data-${LOG_MB}-${JOURNAL_MB}-n${NOISE}"
if [ ! -f "$data/answers.json" ]; then
  echo "generating ${LOG_MB} MiB log + ${JOURNAL_MB} MiB journal in $data…" >&2
  rm -rf "$data"
  "$bin/lsync-gen" --out "$data" --style v1.29-text --seed 42 --noise "$NOISE" --mpool 10 \
    --widen-rate 0.05 --deep-reorg-rate 0.002 --max-blocks 8 --json-section \
    --size-mb "$LOG_MB,$JOURNAL_MB"
fi
log="$data/daemon.log"
journal_dir="$data/journal"
log_bytes=$(stat -c %s "$log")
journal_bytes=$(du -cb "$journal_dir"/*.ndjson | tail -1 | cut -f1)
log_lines=$(wc -l < "$log")
journal_lines=$(cat "$journal_dir"/*.ndjson | wc -l)
cid=$(sed -n 's/.*"late_block": "\(bafy[a-z0-9]*\)".*/\1/p' "$data/answers.json")

# Runs a command, prints "seconds maxrss_kib" (wall time from the clock in ns; RSS from time(1)).
# Output goes through a pipe, not to /dev/null: GNU grep stops at the first match when its
# output is /dev/null.
timed() {
  local a b
  a=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$OUT/.time" "$@" 2>"$OUT/.stderr" | cat >/dev/null || { cat "$OUT/.stderr" >&2; return 1; }
  b=$(date +%s%N)
  echo "$(awk -v d=$(( b - a )) 'BEGIN { printf "%.3f", d / 1e9 }') $(cat "$OUT/.time")"
}
# Median wall time in ms over $RUNS runs.
median_ms() {
  local ts=()
  for _ in $(seq "$RUNS"); do
    local a b; a=$(date +%s%N); "$@" 2>/dev/null | cat >/dev/null; b=$(date +%s%N); ts+=($(( (b - a) / 1000000 )))
  done
  printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.001; printf "%.0f", b / 1048576 / s }'; }
per_s() { awk -v n="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.001; printf "%.2fM", n / s / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) b = 0.001; printf "%.1f×", a / b }'; }

db="$OUT/bench.db"
rm -f "$db" "$db-wal" "$db-shm"
echo "ingesting journal…" >&2
read -r j_s j_rss < <(timed "$bin/lsync" ingest -q --db "$db" --node bench "$journal_dir")
echo "ingesting log…" >&2
read -r l_s l_rss < <(timed "$bin/lsync" ingest -q --db "$db" --node bench "$log")
echo "queries…" >&2
trace_ms=$(median_ms "$bin/lsync" trace "$cid" --json --db "$db")
reorgs_ms=$(median_ms "$bin/lsync" reorgs --json --db "$db")
miners_ms=$(median_ms "$bin/lsync" miners --json --db "$db")
events_ms=$(median_ms "$bin/lsync" events --cid "$cid" --json --db "$db")
echo "baselines…" >&2
jq_s=NA; grep_s=NA; rg_s=NA
if command -v jq >/dev/null; then
  read -r jq_s _ < <(timed jq -c 'select(.Event == "head_change" and .Data.ApplyCount > 1 and .Data.RevertCount > 0)' "$journal_dir"/*.ndjson)
fi
read -r grep_s _ < <(timed grep -F "$cid" "$log")
if command -v rg >/dev/null; then read -r rg_s _ < <(timed rg -F "$cid" "$log"); fi

{
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) — $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM. Data: log $(( log_bytes >> 20 )) MiB / ${log_lines} lines, journal $(( journal_bytes >> 20 )) MiB / ${journal_lines} lines (generator seed 42, ${NOISE} noise records per epoch)."
  echo
  echo "| measure | lsync | baseline on the same file | lsync vs baseline |"
  echo "|---|---|---|---|"
  echo "| journal ingest | $(mbps "$journal_bytes" "$j_s") MB/s, $(per_s "$journal_lines" "$j_s") lines/s, ${j_s} s, peak RSS $(( j_rss / 1024 )) MiB | jq deep-reorg query: $( [ "$jq_s" = NA ] && echo n/a || echo "$(mbps "$journal_bytes" "$jq_s") MB/s (${jq_s} s)") | $( [ "$jq_s" = NA ] && echo n/a || ratio "$jq_s" "$j_s") faster |"
  echo "| log ingest | $(mbps "$log_bytes" "$l_s") MB/s, $(per_s "$log_lines" "$l_s") lines/s, ${l_s} s, peak RSS $(( l_rss / 1024 )) MiB | grep -F one CID: $(mbps "$log_bytes" "$grep_s") MB/s (${grep_s} s)$( [ "$rg_s" = NA ] || echo "; rg -F: $(mbps "$log_bytes" "$rg_s") MB/s (${rg_s} s)") | — |"
  echo "| trace one CID | ${trace_ms} ms (median of $RUNS, whole process) | grep -F over the log: $(awk -v s="$grep_s" 'BEGIN{printf "%.0f", s*1000}') ms | $(ratio "$(awk -v s="$grep_s" 'BEGIN{print s*1000}')" "$trace_ms") faster |"
  echo "| reorgs (all deep reorgs) | ${reorgs_ms} ms | jq over the journal: $( [ "$jq_s" = NA ] && echo n/a || awk -v s="$jq_s" 'BEGIN{printf "%.0f ms", s*1000}') | $( [ "$jq_s" = NA ] && echo n/a || ratio "$(awk -v s="$jq_s" 'BEGIN{print s*1000}')" "$reorgs_ms") faster |"
  echo "| miners | ${miners_ms} ms | — | — |"
  echo "| events --cid | ${events_ms} ms | — | — |"
  echo
} | tee "$OUT/results.md"
