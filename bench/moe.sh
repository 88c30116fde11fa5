#!/usr/bin/env bash
# bench/moe.sh [SIZE_BYTES]: gomerge moe speed and memory against the I/O floor.
#
# Generates a bf16 Llama-shaped base and three fine-tunes of about
# SIZE_BYTES (default 6e8) each with internal/testmodel, and builds an
# 8-expert Mixtral (experts ft1 ft2 ft3 base, twice; gate_mode random) in
# the legacy and the v5 layout. The floor writes a file of the output's
# size from the models' bytes (page cache warm) with O_DIRECT and fsync
# after reading every input once, as bench/run.sh's does. Medians of $RUNS rounds (default 3); peak RSS
# from /usr/bin/time. Models are kept in $BENCH_DIR (default
# /tmp/gomerge-moe-bench).
set -euo pipefail
size=${1:-6e8}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${BENCH_DIR:-/tmp/gomerge-moe-bench}
mkdir -p "$dir"
go build -o "$dir/gomerge" "$root/cmd/gomerge"
go build -o "$dir/genmodel" "$root/internal/testmodel/cmd/genmodel"
for i in 0 1 2 3; do
  m="$dir/m$i-$size"
  if [ ! -f "$m/config.json" ]; then
    if [ "$i" = 0 ]; then "$dir/genmodel" -size "$size" -seed 1 "$m" >/dev/null
    else "$dir/genmodel" -size "$size" -seed 1 -delta 0.002 -delta-seed "$((i + 1))" "$m" >/dev/null; fi
  fi
done
{
  echo "base_model: $dir/m0-$size"
  echo "gate_mode: random"
  echo "dtype: bfloat16"
  echo "experts:"
  for r in 1 2; do for i in 1 2 3 0; do echo "  - source_model: $dir/m$i-$size"; done; done
} >"$dir/moe.yml"
inputs=("$dir"/m?-"$size"/*.safetensors)
outbytes=$("$dir/gomerge" plan "$dir/moe.yml" --json | awk -F': ' '/"bytes"/ {gsub(",", "", $2); print $2}')

inbytes=$(cat "${inputs[@]}" | wc -c)
reps=$(((outbytes + inbytes - 1) / inbytes))

secs() { /usr/bin/time -o "$dir/time.txt" -f "%e %M" "$@" >/dev/null 2>&1; tail -1 "$dir/time.txt"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# The floor's source: the inputs' bytes, repeated to the output's size,
# made once and kept in the page cache, so the floor is one dd as in
# bench/run.sh.
src="$dir/floor-src-$outbytes.bin"
if [ ! -f "$src" ]; then
  (set +o pipefail; for _ in $(seq "$reps"); do cat "${inputs[@]}"; done | head -c "$outbytes" >"$src")
fi
floor() {
  local t0 t1
  t0=$(date +%s.%N)
  cat "${inputs[@]}" >/dev/null
  dd if="$src" of="$dir/floor.bin" bs=16M oflag=direct conv=fsync status=none
  t1=$(date +%s.%N)
  rm -f "$dir/floor.bin"
  echo "$t1 - $t0" | bc
}
settle() { sync; sleep "${SETTLE:-2}"; }
runs=${RUNS:-3}
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(date -u +%F)"
echo "models: base + 3 fine-tunes, $(du -sh "$dir/m0-$size" | cut -f1) each (bf16); 8 experts; output $((outbytes / 1000000)) MB; $runs rounds"
printf "%-8s %9s %9s %7s %10s\n" layout "floor s" "moe s" ratio "peak RSS"
for layout in legacy v5; do
  floors=(); times=(); rss=()
  for i in $(seq "$runs"); do
    settle; floors+=("$(floor)")
    rm -rf "$dir/out"; settle
    read -r t r < <(secs "$dir/gomerge" moe "$dir/moe.yml" "$dir/out" --quiet --random-seed 1 --moe-layout "$layout")
    times+=("$t"); rss+=("$r")
  done
  f=$(printf "%s\n" "${floors[@]}" | median)
  t=$(printf "%s\n" "${times[@]}" | median)
  r=$(printf "%s\n" "${rss[@]}" | median)
  printf "%-8s %9.2f %9.2f %7.2f %6d MiB\n" "$layout" "$f" "$t" "$(echo "$t / $f" | bc -l)" "$((r / 1024))"
done
rm -rf "$dir/out"
