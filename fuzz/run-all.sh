#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after the other, on the committed
# seed corpora (new inputs go to target/corpus-work so the committed corpora stay small).
# Summary lines go to stdout; crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
secs=${SECONDS_PER_TARGET:-600}
for t in log_parser journal_parser cbor_decoders car_reader; do
  work="target/corpus-work/$t"
  mkdir -p "$work"
  cp -n corpus/$t/* "$work"/ 2>/dev/null || true
  max_len=8192; [ "$t" = car_reader ] && max_len=65536
  start=$(date +%s)
  if RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" "$work" -- -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 > "target/$t.log" 2>&1; then
    status=ok
  else
    status="FAILED (see fuzz/target/$t.log and fuzz/artifacts/$t/)"
  fi
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "target/$t.log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "target/$t.log" | tail -1)
  echo "$t: $status — $(( $(date +%s) - start )) s, ${runs:-?} executions, $cov, corpus $(ls "$work" | wc -l) inputs"
done
