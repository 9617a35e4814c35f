#!/usr/bin/env bash
# Journal benchmark on journals shaped like real nodes' (issue 14): a full node's (almost all
# sync:head_change, consecutive ones sharing tipsets, ~4.5 CIDs a tipset, widen 5 %, siblings,
# reorgs of depth 1–5, a trickle of mpool:repub) and a miner's (plus block_mined / wdpost).
# In the same run, on the same file, it measures the tools people already use:
#   - DuckDB: read_json of the journal into a table, and the operators' deep-reorg filter;
#   - jq: the operators' deep-reorg filter;
# and lsync ingest (best of INGEST_RUNS; peak RSS; database size as a share of the input), and
# prints lsync's ratio to each. Nothing here asserts a timing: goals are read off the table.
#
#   bench/journal.sh                       # 1 GiB full-node journal
#   JOURNAL_MB=256 SHAPE=miner bench/journal.sh
set -euo pipefail
cd "$(dirname "$0")/.."
JOURNAL_MB=${JOURNAL_MB:-1024}
SHAPE=${SHAPE:-full-node}
OUT=${OUT:-bench/out}
INGEST_RUNS=${INGEST_RUNS:-3}
PEER_RUNS=${PEER_RUNS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
bin=${BIN:-$CARGO_TARGET_DIR/release}
mkdir -p "$OUT"

. bench/lib.sh
need jq jq
[ -x /usr/bin/time ] || { (apt-get update -qq && apt-get install -y -qq time >/dev/null) || true; }
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb >/dev/null 2>&1 || true

if [ -z "${BIN:-}" ]; then
  echo "building release binaries…" >&2
  cargo build --release --locked -q -p lsync -p lsync-fixtures
fi
data="$OUT/node-journal-$SHAPE-$JOURNAL_MB"
if [ ! -f "$data/answers.json" ]; then
  echo "generating a ${JOURNAL_MB} MiB $SHAPE journal…" >&2
  rm -rf "$data"
  "$bin/lsync-gen" --out "$data" --shape "$SHAPE" --seed 42 --offset-hours 8 --size-mb "0,$JOURNAL_MB"
fi
journal="$data/journal/lotus-journal.ndjson"
bytes=$(stat -c %s "$journal")
lines=$(wc -l < "$journal")

best_of() {
  local n=$1; shift
  local best=999999 rss=0 s r
  for _ in $(seq "$n"); do
    "${pre[@]}"
    read -r s r < <(timed "$@")
    if awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; rss=$r; fi
  done
  echo "$best $rss"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) b = 0.001; printf "%.2f×", a / b }'; }

db="$OUT/node-journal.db"
pre=(rm -f "$db" "$db-wal" "$db-shm")
echo "lsync ingest…" >&2
read -r l_s l_rss < <(best_of "$INGEST_RUNS" "$bin/lsync" ingest -q --db "$db" --node bench "$journal")
db_bytes=$(stat -c %s "$db")
pre=(true)
duck_load=NA; duck_filter=NA; duck_rows=NA
if python3 -c 'import duckdb' 2>/dev/null; then
  echo "DuckDB…" >&2
  cat > "$OUT/.duck_load.py" <<EOF
import duckdb
c = duckdb.connect()
c.execute("CREATE TABLE j AS SELECT * FROM read_json('$journal', format='newline_delimited', maximum_object_size=104857600, union_by_name=true)")
print(c.execute("SELECT count(*) FROM j").fetchone()[0])
EOF
  cat > "$OUT/.duck_filter.py" <<EOF
import duckdb
c = duckdb.connect()
print(c.execute("SELECT count(*) FROM read_json('$journal', format='newline_delimited', maximum_object_size=104857600, union_by_name=true) WHERE Event = 'head_change' AND Data.ApplyCount > 1 AND Data.RevertCount > 0").fetchone()[0])
EOF
  read -r duck_load duck_load_rss < <(best_of "$PEER_RUNS" python3 "$OUT/.duck_load.py")
  read -r duck_filter _ < <(best_of "$PEER_RUNS" python3 "$OUT/.duck_filter.py")
  duck_rows=$(python3 "$OUT/.duck_filter.py")
fi
echo "jq…" >&2
read -r jq_s _ < <(best_of 1 jq -c 'select(.Event == "head_change" and .Data.ApplyCount > 1 and .Data.RevertCount > 0)' "$journal")
jq_rows=$(jq -c 'select(.Event == "head_change" and .Data.ApplyCount > 1 and .Data.RevertCount > 0)' "$journal" | wc -l)
lsync_rows=$("$bin/lsync" reorgs --json --db "$db" | wc -l)

na() { [ "$1" = NA ] && echo n/a || echo "$2"; }
{
  echo "## journal ($SHAPE) $(date -u +%Y-%m-%dT%H:%MZ) — $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM. Journal: $(( bytes >> 20 )) MiB, ${lines} records ($(jq -c '.classes' "$data/answers.json")). Best of ${INGEST_RUNS} (lsync) / ${PEER_RUNS} (DuckDB). Deep reorgs found: lsync ${lsync_rows}, jq ${jq_rows}, DuckDB ${duck_rows}."
  echo
  echo "| measure | rate | lsync ingest ÷ it |"
  echo "|---|---|---|"
  echo "| lsync ingest | $(mbps "$bytes" "$l_s") MB/s (${l_s} s), peak RSS $(( l_rss / 1024 )) MiB, database $(( db_bytes >> 20 )) MiB = $(awk -v a="$db_bytes" -v b="$bytes" 'BEGIN{printf "%.0f", 100*a/b}') % of the input | — |"
  echo "| DuckDB read_json → table | $(na "$duck_load" "$(mbps "$bytes" "$duck_load") MB/s (${duck_load} s), peak RSS $(( ${duck_load_rss:-0} / 1024 )) MiB") | $(na "$duck_load" "$(ratio "$duck_load" "$l_s")") |"
  echo "| DuckDB deep-reorg filter | $(na "$duck_filter" "$(mbps "$bytes" "$duck_filter") MB/s (${duck_filter} s)") | $(na "$duck_filter" "$(ratio "$duck_filter" "$l_s")") |"
  echo "| jq deep-reorg filter | $(mbps "$bytes" "$jq_s") MB/s (${jq_s} s) | $(ratio "$jq_s" "$l_s") |"
  echo
} | tee "$OUT/journal-results.md"
