#!/usr/bin/env bash
# `lsync sql` and `lsync export` on a database of users' shape (issue 16): a full node's 1 GiB
# journal (almost all head changes) plus a 2 GiB daemon log, each ingested as COPIES nodes (a
# fleet; 3 copies ≈ 9.3 M events, the issue's 10 M scale). Measures in
# one run, beside DuckDB over the very export lsync wrote:
#   - point lookups, whole process: `lsync sql … WHERE cid = ?` vs DuckDB's list_contains scan
#     of the Parquet events; `… WHERE event_id = ?`;
#   - a full scan: events by kind with max(height), lsync sql vs DuckDB over the export;
#   - the export itself: wall time, peak RSS, rows, output bytes (Parquet, zstd);
# and prints the ratios. Not a test: nothing here asserts a timing.
#
#   bench/sql-export.sh                            # 1 GiB journal + 2 GiB log
#   JOURNAL_MB=128 LOG_MB=256 bench/sql-export.sh  # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
JOURNAL_MB=${JOURNAL_MB:-1024}
LOG_MB=${LOG_MB:-2048}
OUT=${OUT:-bench/out}
RUNS=${RUNS:-5}
COPIES=${COPIES:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
bin=${BIN:-$CARGO_TARGET_DIR/release}
mkdir -p "$OUT"

. bench/lib.sh
[ -x /usr/bin/time ] || { (apt-get update -qq && apt-get install -y -qq time >/dev/null) || true; }
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb >/dev/null 2>&1 || true

if [ -z "${BIN:-}" ]; then
  echo "building release binaries…" >&2
  cargo build --release --locked -q -p lsync -p lsync-fixtures
fi
jdata="$OUT/node-journal-full-node-$JOURNAL_MB"
if [ ! -f "$jdata/answers.json" ]; then
  echo "generating a ${JOURNAL_MB} MiB full-node journal…" >&2
  rm -rf "$jdata"
  "$bin/lsync-gen" --out "$jdata" --shape full-node --seed 42 --offset-hours 8 --size-mb "0,$JOURNAL_MB"
fi
ldata="$OUT/data-n40/log-$LOG_MB"
if [ ! -f "$ldata/answers.json" ]; then
  echo "generating a ${LOG_MB} MiB log…" >&2
  rm -rf "$ldata"
  "$bin/lsync-gen" --out "$ldata" --style v1.29-text --seed 42 --noise 40 --mpool 10 --widen-rate 0.05 \
    --deep-reorg-rate 0.002 --max-blocks 8 --json-section --only log --size-mb "$LOG_MB,0"
fi
journal="$jdata/journal/lotus-journal.ndjson"
log="$ldata/daemon.log"
db="$OUT/sql-export-$JOURNAL_MB-$LOG_MB-x$COPIES.db"
if [ ! -f "$db" ]; then
  echo "ingesting…" >&2
  for c in $(seq "$COPIES"); do
    "$bin/lsync" ingest -q --db "$db" --node "full$c" "$journal" >/dev/null
    "$bin/lsync" ingest -q --db "$db" --node "logs$c" "$log" >/dev/null
  done
fi
events=$("$bin/lsync" sql --db "$db" --csv "SELECT count(*) FROM events" | tail -1)

# Median of RUNS whole-process runs: prints "seconds rss_kib" of the median run.
median_of() {
  local n=$1; shift
  local f="$OUT/.runs"
  : > "$f"
  for _ in $(seq "$n"); do timed "$@" >> "$f"; done
  sort -n "$f" | awk -v m=$(( (n + 1) / 2 )) 'NR == m { print $1, $2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) b = 0.001; printf "%.2f×", a / b }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f ms", s * 1000 }'; }

exp="$OUT/sql-export-parquet"
if [ -e "$exp" ] || [ -e "$exp-events" ]; then
  # The last run's exports go first, and the timing waits a minute after: on an ext4 without a
  # journal (this project's VMs) each file created soon after a mass delete searches the
  # recently deleted inodes (kernel `recently_deleted`: 60 s once their inode table blocks are
  # written back — hence the sync — 360 s while they are dirty), which made an export of 1,700
  # files right after `rm -rf` of the last one spend ~2 s more system time. Users' journaled
  # filesystems do not do that: EXPORT_WAIT=0 skips the wait.
  echo "removing the last run's exports, then waiting ${EXPORT_WAIT:-65} s…" >&2
  rm -rf "$exp" "$exp-events"
  sync
  sleep "${EXPORT_WAIT:-65}"
fi
echo "lsync export…" >&2
read -r xe_s xe_rss < <(timed "$bin/lsync" export -q --db "$db" --out "$exp-events" --table events)
xe_bytes=$(du -sb "$exp-events" | cut -f1)
# The events export's ~860 MiB written back first, so the next is not timed against it.
sync
read -r x_s x_rss < <(timed "$bin/lsync" export -q --db "$db" --out "$exp")
x_bytes=$(du -sb "$exp" | cut -f1)
x_files=$(find "$exp" -name '*.parquet' | wc -l)

# A block CID in the middle of the journal, and an event id.
cid=$("$bin/lsync" sql --db "$db" --csv "SELECT cid FROM event_cids WHERE event_id = (SELECT event_id FROM head_changes WHERE node = 'full1' AND to_height = (SELECT to_height FROM head_changes WHERE node = 'full1' AND revert_count >= 1 LIMIT 1 OFFSET 100) LIMIT 1) LIMIT 1" | tail -1)
eid=$("$bin/lsync" sql --db "$db" --csv "SELECT event_id FROM events WHERE kind = 'block_delay' LIMIT 1 OFFSET 1000" | tail -1)
q_cid="SELECT kind, ts, file, line FROM events WHERE cid = '$cid'"
q_id="SELECT * FROM events WHERE event_id = $eid"
q_scan="SELECT kind, count(*), max(height) FROM events GROUP BY kind"
q_day="SELECT count(*) FROM events WHERE kind = 'block_delay' AND ts_ns >= ns('2021-11-26') AND ts_ns < ns('2021-11-27')"

echo "lsync sql…" >&2
read -r s_cid _ < <(median_of "$RUNS" "$bin/lsync" sql --db "$db" --csv "$q_cid")
read -r s_id _ < <(median_of "$RUNS" "$bin/lsync" sql --db "$db" --csv "$q_id")
read -r s_day _ < <(median_of "$RUNS" "$bin/lsync" sql --db "$db" --csv "$q_day")
read -r s_scan s_scan_rss < <(median_of 3 "$bin/lsync" sql --db "$db" --csv "$q_scan")
n_cid=$("$bin/lsync" sql --db "$db" --csv "$q_cid" | tail -n +2 | wc -l)

d_cid=NA; d_scan=NA
if python3 -c 'import duckdb' 2>/dev/null; then
  echo "DuckDB over the export…" >&2
  ev="read_parquet('$exp/events/**/*.parquet', hive_partitioning = true)"
  cat > "$OUT/.duck_cid.py" <<EOF
import duckdb
print(len(duckdb.sql("SELECT kind, ts, file, line FROM $ev WHERE list_contains(cids, '$cid')").fetchall()))
EOF
  cat > "$OUT/.duck_scan.py" <<EOF
import duckdb
print(duckdb.sql("SELECT kind, count(*), max(height) FROM $ev GROUP BY kind").fetchall())
EOF
  read -r d_cid _ < <(median_of "$RUNS" python3 "$OUT/.duck_cid.py")
  read -r d_scan d_scan_rss < <(median_of 3 python3 "$OUT/.duck_scan.py")
  d_n_cid=$(python3 "$OUT/.duck_cid.py")
  d_base=$(median_of "$RUNS" python3 -c 'import duckdb' | cut -d' ' -f1)
fi

na() { [ "$1" = NA ] && echo n/a || echo "$2"; }
{
  echo "## sql and export $(date -u +%Y-%m-%dT%H:%MZ) — $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM. Database: ${COPIES} × (${JOURNAL_MB} MiB full-node journal + ${LOG_MB} MiB log), ${events} events, $(( $(stat -c %s "$db") >> 20 )) MiB. Medians of ${RUNS} whole-process runs (3 for scans). CID rows: lsync ${n_cid}, DuckDB ${d_n_cid:-n/a}. DuckDB's own start (python3 -c 'import duckdb'): $(na "${d_base:-NA}" "$(ms "${d_base:-0}")")."
  echo
  echo "| measure | lsync | DuckDB over lsync's Parquet | DuckDB ÷ lsync |"
  echo "|---|---|---|---|"
  echo "| export → Parquet, all six tables | $(awk -v s="$x_s" 'BEGIN{printf "%.1f s", s}'), peak RSS $(( x_rss / 1024 )) MiB, $(( x_bytes >> 20 )) MiB in ${x_files} files | — | — |"
  echo "| export → Parquet, events only | $(awk -v s="$xe_s" 'BEGIN{printf "%.1f s", s}'), peak RSS $(( xe_rss / 1024 )) MiB, $(( xe_bytes >> 20 )) MiB | — | — |"
  echo "| point lookup by CID | $(ms "$s_cid") | $(na "$d_cid" "$(ms "$d_cid")") | $(na "$d_cid" "$(ratio "$d_cid" "$s_cid")") |"
  echo "| point lookup by event_id | $(ms "$s_id") | — | — |"
  echo "| block_delay of one day (kind + time) | $(ms "$s_day") | — | — |"
  echo "| full scan: events by kind, max(height) | $(awk -v s="$s_scan" 'BEGIN{printf "%.1f s", s}'), peak RSS $(( s_scan_rss / 1024 )) MiB | $(na "$d_scan" "$(awk -v s="$d_scan" 'BEGIN{printf "%.1f s", s}'), peak RSS $(( ${d_scan_rss:-0} / 1024 )) MiB") | $(na "$d_scan" "$(ratio "$d_scan" "$s_scan")") |"
  echo
} | tee "$OUT/sql-export-results.md"
