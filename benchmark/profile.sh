#!/usr/bin/env bash
# A flame graph of one benchmark operation: benchmark/profiles/<name>.svg and
# the top of `perf report` as <name>.txt. Needs perf (linux-perf) and inferno
# (`cargo install inferno`) for the flame graph; run `npm run build` first (a
# release build).
#   bash benchmark/profile.sh <name> [seconds] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; seconds=${2:-5}; concurrency=${3:-1}
out=benchmark/profiles
data=$(mktemp /tmp/fedikv-perf.XXXXXX)
trap 'rm -f "$data"' EXIT
ready=$(mktemp /tmp/fedikv-ready.XXXXXX)
node --perf-basic-prof benchmark/profile.mjs "$name" "$((seconds + 2))" "$concurrency" > "$out/$name.txt" 2> "$ready" &
pid=$!
until grep -q ready "$ready"; do
  kill -0 "$pid" 2>/dev/null || { cat "$ready" >&2; exit 1; }
  sleep 0.1
done
perf record -F 1999 -g -o "$data" -p "$pid" -- sleep "$seconds"
wait "$pid"
rm -f "$ready"
perf report -i "$data" --no-children --sort comm,dso -g none --percent-limit 1 2>/dev/null | grep '%' >> "$out/$name.txt"
echo >> "$out/$name.txt"
perf report -i "$data" --children --sort sym -g none --percent-limit 2 2>/dev/null | grep '%' | head -60 >> "$out/$name.txt"
if command -v inferno-flamegraph >/dev/null; then
  perf script -i "$data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph --title "fedikv: $name, concurrency $concurrency" > "$out/$name.svg"
  echo "wrote $out/$name.svg and $out/$name.txt"
else
  echo "wrote $out/$name.txt (no flame graph: \`cargo install inferno\` for $out/$name.svg)"
fi
