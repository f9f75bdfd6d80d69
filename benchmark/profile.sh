#!/usr/bin/env bash
# A flame graph of one benchmark operation: benchmark/profiles/<name>.svg and
# the top of `perf report` as <name>.txt. Needs perf (linux-perf) and inferno
# (`cargo install inferno`); run `npm run build` first (a release build).
#   bash benchmark/profile.sh <name> [seconds] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; seconds=${2:-5}; concurrency=${3:-1}
out=benchmark/profiles
data=$(mktemp /tmp/fedikv-perf.XXXXXX)
trap 'rm -f "$data"' EXIT
perf record -F 1999 -g -o "$data" -- node --perf-basic-prof benchmark/profile.mjs "$name" "$seconds" "$concurrency" | tee "$out/$name.txt"
perf report -i "$data" --no-children --sort comm,dso -g none --percent-limit 1 2>/dev/null | grep '%' >> "$out/$name.txt"
echo >> "$out/$name.txt"
perf report -i "$data" --children --sort sym -g none --percent-limit 2 2>/dev/null | grep '%' | head -60 >> "$out/$name.txt"
perf script -i "$data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph --title "fedikv: $name, concurrency $concurrency" > "$out/$name.svg"
echo "wrote $out/$name.svg and $out/$name.txt"
