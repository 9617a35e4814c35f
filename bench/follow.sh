#!/usr/bin/env bash
# `lsync follow` on loopback devnets (issue 18), each figure beside its baseline from the same run:
#
# 1. latency: a devnet of MINERS (50) simulated miners gossiping EPOCHS epochs (every block
#    relayed by the mesh, so copies arrive from many peers); `lsync follow` joins it. From the
#    devnet's ground truth and follow's journal:
#    - delivery: first-seen − publish, per block, for lsync and for the devnet's own miner nodes
#      (bare gossipsub nodes in the same mesh: the floor); lsync's p50/p99 and the ratio;
#    - arrival → journal: the head_change record's time − the first-seen time of the newest
#      block it applies (message fetch over chain exchange, sync, journal write);
#    - first-seen precision: sub-millisecond digits in FirstSeen.
# 2. late join: a devnet with HISTORY (100,000) epochs made before it started; a fresh follower
#    anchors 900 tipsets below the head (time from start to the head, peak RSS), and one
#    anchored CATCHUP (20,000) tipsets deep (tipsets/s over chain exchange, peak RSS).
# Nothing here asserts a timing: goals are read off the table (bench/RESULTS.md).
#
#   bench/follow.sh
#   MINERS=20 EPOCHS=15 HISTORY=20000 bench/follow.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MINERS=${MINERS:-50}
EPOCHS=${EPOCHS:-30}
HISTORY=${HISTORY:-100000}
CATCHUP=${CATCHUP:-20000}
OUT=${OUT:-bench/out}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
bin=${BIN:-$CARGO_TARGET_DIR/release}
mkdir -p "$OUT"
. bench/lib.sh
[ -x /usr/bin/time ] || { (apt-get update -qq && apt-get install -y -qq time >/dev/null) || true; }
if [ -z "${BIN:-}" ]; then
  echo "building release binaries…" >&2
  cargo build --release --locked -q -p lsync
fi

# Starts a devnet in the background in $1 with the remaining flags; sets $devnet_pid and
# $follow_cmd (the command it prints to join it).
start_devnet() {
  local dir=$1; shift
  rm -rf "$dir"; mkdir -p "$dir"
  "$bin/lsync" devnet --out "$dir" "$@" >"$dir/devnet.out" 2>"$dir/devnet.err" &
  devnet_pid=$!
  for _ in $(seq 1 600); do
    grep -q "lsync follow" "$dir/devnet.out" 2>/dev/null && break
    sleep 0.1
  done
  follow_cmd=$(grep "lsync follow" "$dir/devnet.out" | sed "s|lsync follow|$bin/lsync follow|")
  [ -n "$follow_cmd" ] || { cat "$dir/devnet.err" >&2; exit 1; }
}

echo "== latency: $MINERS miners, $EPOCHS epochs of 2 s" >&2
lat="$OUT/follow-latency"
start_devnet "$lat" --miners "$MINERS" --epochs "$EPOCHS" --block-time 2s
# shellcheck disable=SC2086
$follow_cmd --repo "$lat/follow" --for "$(( EPOCHS * 2 + 6 ))s" -q >"$lat/follow.out" 2>"$lat/follow.err" &
follow_pid=$!
wait "$devnet_pid"
wait "$follow_pid" || true
python3 - "$lat" <<'PY'
import json, sys, datetime, statistics
d = sys.argv[1]
truth = json.load(open(f"{d}/ground-truth.json"))
def ns(text):
    # RFC 3339 with up to 9 fraction digits and an offset (Z here: the machine's zone is UTC).
    main, _, frac = text.rstrip("Z").partition(".")
    frac = (frac + "000000000")[:9]
    return int(datetime.datetime.fromisoformat(main).replace(tzinfo=datetime.timezone.utc).timestamp()) * 10**9 + int(frac)
seen, changes = {}, []
for line in open(f"{d}/follow/journal/lotus-journal.ndjson"):
    r = json.loads(line)
    if r["Event"] == "block_seen":
        seen[r["Data"]["Cid"]["/"]] = r["Data"]
    elif r["Event"] == "head_change":
        changes.append(r)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
lsync_delivery, bare_delivery = [], []
for b in truth["blocks"]:
    if b["published_ns"] is None or b["cid"] not in seen:
        continue
    lsync_delivery.append((ns(seen[b["cid"]]["FirstSeen"]) - b["published_ns"]) / 1e6)
    bare_delivery += [(a - b["published_ns"]) / 1e6 for a in b["miner_arrivals_ns"]]
height_of = {b["cid"]: b["height"] for b in truth["blocks"]}
journal = []
for c in changes:
    to = [x["/"] for x in c["Data"]["To"]]
    firsts = [ns(seen[x]["FirstSeen"]) for x in to if x in seen]
    if firsts:
        journal.append((ns(c["Timestamp"]) - max(firsts)) / 1e6)
sub_ms = sum(1 for s in seen.values() if len(s["FirstSeen"].rstrip("Z").partition(".")[2]) > 3)
print(f"blocks {len(lsync_delivery)} of {len(truth['blocks'])} seen; {len(bare_delivery)} miner-node arrivals as the baseline")
print(f"delivery (publish → first-seen), ms    lsync p50 {pct(lsync_delivery,50):.2f} p99 {pct(lsync_delivery,99):.2f}   bare gossipsub nodes p50 {pct(bare_delivery,50):.2f} p99 {pct(bare_delivery,99):.2f}   ratio p50 {pct(lsync_delivery,50)/max(pct(bare_delivery,50),1e-3):.2f}")
print(f"arrival → journal head_change, ms       p50 {pct(journal,50):.2f} p99 {pct(journal,99):.2f} max {max(journal):.2f} ({len(journal)} head changes)")
print(f"first-seen with sub-ms digits           {sub_ms} of {len(seen)}")
PY
grep -E "rss|Maximum" "$lat/follow.err" || true

echo "== late join: $HISTORY epochs of history" >&2
late="$OUT/follow-late"
start_devnet "$late" --history "$HISTORY" --epochs 60 --block-time 2s
# Where the head is now: the devnet's history plus the epochs since it started.
head_now() { echo $(( HISTORY + ($(date +%s) - $(stat -c %Y "$late/genesis.car")) / 2 )); }
run_follow() {
  local name=$1; shift
  rm -rf "$late/$name"
  # shellcheck disable=SC2086
  /usr/bin/time -f "%M" -o "$late/$name.rss" $follow_cmd --repo "$late/$name" --for 25s -q "$@" >"$late/$name.out" 2>"$late/$name.err"
  python3 - "$late/$name" "$(cat "$late/$name.rss")" "$name" <<'PY'
import json, sys, datetime
d, rss, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def t(text):
    main, _, frac = text.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(main).replace(tzinfo=datetime.timezone.utc).timestamp() + float("0." + (frac or "0"))
anchor = first = None
for line in open(f"{d}/journal/lotus-journal.ndjson"):
    r = json.loads(line)
    if r["Event"] == "anchor" and anchor is None:
        anchor = r
    if r["Event"] == "head_change" and first is None:
        first = r
start = json.loads(open(f"{d}/../{name}.start").read())
n = first["Data"]["ApplyCount"]
print(f"{name}: anchored at {anchor['Data']['Height']} for a head at {first['Data']['ToHeight']}; head reached {t(first['Timestamp']) - start:.2f} s after start, "
      f"{n} tipsets applied {t(first['Timestamp']) - t(anchor['Timestamp']):.2f} s after anchoring ({n / max(t(first['Timestamp']) - t(anchor['Timestamp']), 1e-3):,.0f} tipsets/s); peak RSS {rss / 1024:.1f} MiB")
PY
}
python3 -c 'import time; print(time.time())' >"$late/recent.start"
run_follow recent
python3 -c 'import time; print(time.time())' >"$late/deep.start"
run_follow deep --anchor "$(( $(head_now) - CATCHUP ))"
kill "$devnet_pid" 2>/dev/null || true
wait "$devnet_pid" 2>/dev/null || true
