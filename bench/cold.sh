#!/usr/bin/env bash
# bench/cold.sh CONFIG... — cold page cache: for each config, in each of
# $RUNS rounds (default 3), drop the page cache (needs root), time the I/O
# floor (cat every input model once, write the output's size with
# dd oflag=direct conv=fsync), drop the cache again, time gomerge. Prints
# the medians and the ratio. Dropping the cache slows everyone on the
# machine for a moment: say so when sharing it.
set -euo pipefail
RUNS=${RUNS:-3}
GM=${GM:-gomerge}
OUT=${OUT:-/tmp/gomerge-cold-out}
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for cfg in "$@"; do
  models=$(grep -E '^\s*(base_model|-? *model):' "$cfg" | sed -E 's/.*model: *//' | sort -u)
  first=$(echo "$models" | head -1)
  fl=() mg=()
  for _ in $(seq "$RUNS"); do
    drop; t0=$(now)
    for m in $models; do cat "$m"/*.safetensors > /dev/null; done
    cat "$first"/*.safetensors | dd of="$OUT.floor" bs=16M oflag=direct conv=fsync iflag=fullblock status=none
    fl+=("$(echo "$(now) - $t0" | bc)"); rm -f "$OUT.floor"
    rm -rf "$OUT"; drop; t0=$(now)
    "$GM" "$cfg" "$OUT" > /dev/null
    mg+=("$(echo "$(now) - $t0" | bc)"); rm -rf "$OUT"
  done
  f=$(printf '%s\n' "${fl[@]}" | median); g=$(printf '%s\n' "${mg[@]}" | median)
  printf '%s cold: floor %.2f s, gomerge %.2f s, ratio %.2f (floors %s; merges %s)\n' \
    "$(basename "$cfg" .yml)" "$f" "$g" "$(echo "$g / $f" | bc -l)" "${fl[*]}" "${mg[*]}"
done
