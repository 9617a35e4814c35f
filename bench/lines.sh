#!/usr/bin/env bash
# Instructions per line of each kind through the daemon-log parser, counted by callgrind (which
# counts the same on a busy or an idle machine, unlike a clock). Runs core/benches/lines.rs at
# two line counts and divides the difference, so start-up and the benchmark's own set-up drop
# out. Not a test: it prints a table for bench/RESULTS.md.
#
#   bench/lines.sh                 # every kind of line
#   bench/lines.sh worker_done     # one kind
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
command -v valgrind >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq valgrind >/dev/null) || { echo "valgrind is needed" >&2; exit 1; }; }
bin=$(cargo bench --locked -p lsync-core --bench lines --no-run 2>&1 | sed -n 's/.*Executable benches\/lines.rs (\(.*\))/\1/p' | tail -1)
[ -x "$bin" ] || { echo "could not build the line benchmark" >&2; exit 1; }
if [ $# -gt 0 ]; then
  kinds=("$@")
else
  kinds=("ordinary (mpool)" "ordinary (JSON)" "error + 2 continuation lines" "foreign" "decoy (worker N done, migration)" "selected_target" "worker_start" "block_validation" "new_heaviest" "worker_done" "new_heaviest (JSON)")
fi
count() { LSYNC_BENCH_N=$1 LSYNC_BENCH_LINE="$2" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
echo "| line | instructions per line |"
echo "|---|---|"
for kind in "${kinds[@]}"; do
  a=$(count 1000 "$kind")
  b=$(count 11000 "$kind")
  # The benchmark runs five rounds: 5 × 10,000 more lines in the second count.
  echo "| $kind | $(( (b - a) / 50000 )) |"
done
