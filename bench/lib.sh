# Helpers shared by the benchmark scripts (sourced). Expects $OUT to exist.

# Installs a missing tool from apt when possible (benchmarks run as root on the bench machine).
need() { command -v "$1" >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq "$2" >/dev/null) || true; }; }

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

# MB/s of $1 bytes in $2 seconds.
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.001; printf "%.0f", b / 1e6 / s }'; }
