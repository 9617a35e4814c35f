#!/usr/bin/env bash
# lsync benchmark. Generates, with the fixtures generator, a daemon log (default 2 GiB) and a
# journal (default 1 GiB), then measures in one run:
#   - `lsync ingest` of each: MB/s, lines/s, peak RSS (best of INGEST_RUNS, with the spread),
#     and the same ingest on one parser thread (`--threads 1`), the single-core baseline;
#   - the latency of trace / reorgs / miners / events --cid on the resulting database;
#   - the baselines people use today on the same files: the operators' jq deep-reorg query over
#     the journal, and `grep -F <cid>` (and `rg -F` when installed) over the log;
# and prints the ratios. Not a test: nothing here asserts a timing.
#
#   bench/run.sh                                   # 2 GiB log + 1 GiB journal
#   LOG_MB=256 JOURNAL_MB=256 INGEST_RUNS=1 bench/run.sh   # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_MB=${LOG_MB:-2048}
JOURNAL_MB=${JOURNAL_MB:-1024}
OUT=${OUT:-bench/out}
RUNS=${RUNS:-5}
INGEST_RUNS=${INGEST_RUNS:-3}
# Noise records (mpool, bitswap, …) per epoch around the ~5 sync-pipeline lines of an epoch.
NOISE=${NOISE:-40}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
mkdir -p "$OUT"

. bench/lib.sh
need jq jq
need lnav lnav
need rg ripgrep
[ -x /usr/bin/time ] || { (apt-get update -qq && apt-get install -y -qq time >/dev/null) || true; }

echo "building release binaries…" >&2
cargo build --release --locked -q -p lsync -p lsync-fixtures
bin="$CARGO_TARGET_DIR/release"
gen=(--style v1.29-text --seed 42 --noise "$NOISE" --mpool 10 --widen-rate 0.05 --deep-reorg-rate 0.002 --max-blocks 8 --json-section)
data="$OUT/data-n${NOISE}"
if [ ! -f "$data/log-${LOG_MB}/answers.json" ]; then
  echo "generating a ${LOG_MB} MiB log…" >&2
  rm -rf "$data/log-${LOG_MB}"
  "$bin/lsync-gen" --out "$data/log-${LOG_MB}" "${gen[@]}" --only log --size-mb "$LOG_MB,0"
fi
if [ ! -f "$data/journal-${JOURNAL_MB}/answers.json" ]; then
  echo "generating a ${JOURNAL_MB} MiB journal…" >&2
  rm -rf "$data/journal-${JOURNAL_MB}"
  "$bin/lsync-gen" --out "$data/journal-${JOURNAL_MB}" "${gen[@]}" --only journal --size-mb "0,$JOURNAL_MB"
fi
log="$data/log-${LOG_MB}/daemon.log"
journal="$data/journal-${JOURNAL_MB}/journal/lotus-journal.ndjson"
log_bytes=$(stat -c %s "$log")
journal_bytes=$(stat -c %s "$journal")
log_lines=$(wc -l < "$log")
journal_lines=$(wc -l < "$journal")
# Same seed: the late block of the log's first epochs is in the journal too.
cid=$(sed -n 's/.*"late_block": "\(bafy[a-z0-9]*\)".*/\1/p' "$data/log-${LOG_MB}/answers.json")

# Ingest of $2 into a fresh database $1, INGEST_RUNS times (extra lsync arguments after):
# prints "best_s worst_s rss_kib_of_best".
ingest_best() {
  local db=$1 file=$2; shift 2
  local best=999999 worst=0 rss=0 s r
  for _ in $(seq "$INGEST_RUNS"); do
    rm -f "$db" "$db-wal" "$db-shm"
    read -r s r < <(timed "$bin/lsync" ingest -q --db "$db" --node bench "$@" "$file")
    if awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; rss=$r; fi
    if awk -v a="$s" -v b="$worst" 'BEGIN { exit !(a > b) }'; then worst=$s; fi
  done
  echo "$best $worst $rss"
}
# Median wall time in ms over $RUNS runs.
median_ms() {
  local ts=()
  for _ in $(seq "$RUNS"); do
    local a b; a=$(date +%s%N); "$@" 2>/dev/null | cat >/dev/null; b=$(date +%s%N); ts+=($(( (b - a) / 1000000 )))
  done
  printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}
per_s() { awk -v n="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.001; printf "%.2fM", n / s / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) b = 0.001; printf "%.1f×", a / b }'; }

echo "ingesting the journal…" >&2
read -r j1_s _ j1_rss < <(ingest_best "$OUT/journal-1.db" "$journal" --threads 1)
read -r j_s j_worst j_rss < <(ingest_best "$OUT/journal.db" "$journal")
echo "ingesting the log…" >&2
read -r l1_s _ l1_rss < <(ingest_best "$OUT/log-1.db" "$log" --threads 1)
read -r l_s l_worst l_rss < <(ingest_best "$OUT/log.db" "$log")
db="$OUT/bench.db"
rm -f "$db" "$db-wal" "$db-shm"
"$bin/lsync" ingest -q --db "$db" --node bench "$journal" "$log" >/dev/null
db_mib=$(( $(stat -c %s "$db") >> 20 ))
echo "queries…" >&2
trace_ms=$(median_ms "$bin/lsync" trace "$cid" --json --db "$db")
reorgs_ms=$(median_ms "$bin/lsync" reorgs --json --db "$db")
miners_ms=$(median_ms "$bin/lsync" miners --json --db "$db")
events_ms=$(median_ms "$bin/lsync" events --cid "$cid" --json --db "$db")
echo "baselines…" >&2
jq_s=NA; rg_s=NA
if command -v jq >/dev/null; then
  read -r jq_s _ < <(timed jq -c 'select(.Event == "head_change" and .Data.ApplyCount > 1 and .Data.RevertCount > 0)' "$journal")
fi
grep_s=999999
for _ in 1 2 3; do
  read -r s _ < <(timed grep -F "$cid" "$log")
  if awk -v a="$s" -v b="$grep_s" 'BEGIN { exit !(a < b) }'; then grep_s=$s; fi
done
if command -v rg >/dev/null; then read -r rg_s _ < <(timed rg -F "$cid" "$log"); fi
# lnav, the log viewer people use for SQL over logs: its indexing of the same file (a query
# over all lines forces the whole file to be read and indexed).
lnav_s=NA
if command -v lnav >/dev/null; then
  read -r lnav_s _ < <(timed lnav -n -c ';SELECT count(*) FROM all_logs' "$log")
fi

na() { [ "$1" = NA ] && echo n/a || echo "$2"; }
{
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) — $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM. Data (generator seed 42, ${NOISE} noise records per epoch): log $(( log_bytes >> 20 )) MiB / ${log_lines} lines, journal $(( journal_bytes >> 20 )) MiB / ${journal_lines} lines. MB = 10^6 bytes. Ingest: best of ${INGEST_RUNS} (worst in brackets); database of both: ${db_mib} MiB."
  echo
  echo "| measure | lsync | baseline on the same file | lsync vs baseline |"
  echo "|---|---|---|---|"
  echo "| journal ingest | $(mbps "$journal_bytes" "$j_s") MB/s [$(mbps "$journal_bytes" "$j_worst")], $(per_s "$journal_lines" "$j_s") lines/s, ${j_s} s, peak RSS $(( j_rss / 1024 )) MiB | jq deep-reorg query: $(na "$jq_s" "$(mbps "$journal_bytes" "$jq_s") MB/s (${jq_s} s)") | $(na "$jq_s" "$(ratio "$jq_s" "$j_s") faster") |"
  echo "| journal ingest, 1 parser thread | $(mbps "$journal_bytes" "$j1_s") MB/s, ${j1_s} s, peak RSS $(( j1_rss / 1024 )) MiB | lsync on all cores | $(ratio "$j1_s" "$j_s") |"
  echo "| log ingest | $(mbps "$log_bytes" "$l_s") MB/s [$(mbps "$log_bytes" "$l_worst")], $(per_s "$log_lines" "$l_s") lines/s, ${l_s} s, peak RSS $(( l_rss / 1024 )) MiB | grep -F one CID: $(mbps "$log_bytes" "$grep_s") MB/s (${grep_s} s)$( [ "$rg_s" = NA ] || echo "; rg -F: $(mbps "$log_bytes" "$rg_s") MB/s (${rg_s} s)") | $(ratio "$grep_s" "$l_s") of grep's speed |"
  echo "| log ingest vs lnav | $(mbps "$log_bytes" "$l_s") MB/s | lnav indexing (\`;SELECT count(*) FROM all_logs\`): $(na "$lnav_s" "$(mbps "$log_bytes" "$lnav_s") MB/s (${lnav_s} s)") | $(na "$lnav_s" "$(ratio "$lnav_s" "$l_s") lnav's rate") |"
  echo "| log ingest, 1 parser thread | $(mbps "$log_bytes" "$l1_s") MB/s, ${l1_s} s, peak RSS $(( l1_rss / 1024 )) MiB | lsync on all cores | $(ratio "$l1_s" "$l_s") |"
  echo "| trace one CID | ${trace_ms} ms (median of $RUNS, whole process) | grep -F over the log: $(awk -v s="$grep_s" 'BEGIN{printf "%.0f", s*1000}') ms | $(ratio "$(awk -v s="$grep_s" 'BEGIN{print s*1000}')" "$trace_ms") faster |"
  echo "| reorgs (all deep reorgs) | ${reorgs_ms} ms | jq over the journal: $(na "$jq_s" "$(awk -v s="$jq_s" 'BEGIN{printf "%.0f ms", s*1000}')") | $(na "$jq_s" "$(ratio "$(awk -v s="$jq_s" 'BEGIN{print s*1000}')" "$reorgs_ms") faster") |"
  echo "| miners | ${miners_ms} ms | — | — |"
  echo "| events --cid | ${events_ms} ms | — | — |"
  echo
} | tee "$OUT/results.md"
