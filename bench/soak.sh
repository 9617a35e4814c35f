#!/usr/bin/env bash
# Resource use of a long `lsync follow`: a loopback devnet (1 s blocks) followed for EPOCHS
# epochs; the follower's RSS and CPU are sampled every 10 s; then SIGTERM, and the output is
# ingested to check that nothing was lost or torn.
#
#   EPOCHS=600 bench/soak.sh        # ten minutes
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-240}
OUT=${OUT:-bench/out/soak}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -q -p lsync
bin="$CARGO_TARGET_DIR/release/lsync"
rm -rf "$OUT"; mkdir -p "$OUT"
"$bin" devnet --miners 4 --block-time 1s --epochs "$EPOCHS" --seed 9 --late-miner 3:300 \
  --partition 50:2 --widen 80:200 --out "$OUT/devnet" > "$OUT/devnet.out" 2>&1 &
devnet=$!
for _ in $(seq 100); do grep -q '^  lsync follow' "$OUT/devnet.out" && break; sleep 0.1; done
cmd=$(grep '^  lsync follow' "$OUT/devnet.out" | sed 's/^  lsync //')
# shellcheck disable=SC2086
"$bin" $cmd -q --repo "$OUT/follow" > "$OUT/follow.out" 2>&1 &
follow=$!
tck=$(getconf CLK_TCK)
echo "| t (s) | RSS (MiB) | CPU since last sample |"
echo "|---|---|---|"
prev_cpu=0; t=0
while kill -0 "$devnet" 2>/dev/null; do
  sleep 10; t=$((t + 10))
  [ -r /proc/$follow/status ] || break
  rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$follow/status)
  cpu=$(awk '{print $14 + $15}' /proc/$follow/stat)
  echo "| $t | $rss | $(awk -v d=$((cpu - prev_cpu)) -v h="$tck" 'BEGIN { printf "%.1f%%", d / h / 10 * 100 }') |"
  prev_cpu=$cpu
done
wait "$devnet" || true
kill -TERM "$follow"
if wait "$follow"; then echo "follow exited 0 after SIGTERM"; else echo "follow exited $?"; fi
"$bin" ingest --json --db "$OUT/soak.db" "$OUT/follow" > "$OUT/ingest.json"
python3 - "$OUT/ingest.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
torn = [f["torn_line"] for f in r["files"] if f["torn_line"]]
print(f"ingested: {r['events']} events, malformed {r['malformed']}, torn lines {torn}")
PY
python3 - "$OUT" <<'PY'
import json,sys,subprocess
out=sys.argv[1]
truth=json.load(open(f"{out}/devnet/ground-truth.json"))
got=subprocess.run(["target/release/lsync","reorgs","--min-apply","0","--min-revert","0","--json","--db",f"{out}/soak.db"],capture_output=True,text=True).stdout.split("\n")
got=[json.loads(l) for l in got if l.strip()]
print(f"head changes: {len(got)} journaled, {len(truth['head_changes'])} in the ground truth; "
      f"identical: {[ (g['from'],g['to'],g['revert_count'],g['apply_count']) for g in got] == [(t['from'],t['to'],t['revert_count'],t['apply_count']) for t in truth['head_changes']]}")
PY
