#!/usr/bin/env bash
# measure.sh N ROUNDS "methods": interleaved floor/merge, medians; GM=binary
n=$1; rounds=$2; methods=$3; gm=${GM:-${BENCH_DIR:-/tmp/bm}/gm}; dir=${BENCH_DIR:-/tmp/bm}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
floor() {
  local ms first rest=()
  ms=$(grep -oE 'model: [^ ]+' "$1" | cut -d' ' -f2 | awk '!seen[$0]++')
  first=
  for m in $ms; do if [ -z "$first" ]; then first=$m/model.safetensors; else rest+=($m/model.safetensors); fi; done
  local t0=$(date +%s.%N)
  [ ${#rest[@]} = 0 ] || cat "${rest[@]}" >/dev/null
  dd if=$first of=$dir/floor.bin bs=16M oflag=direct conv=fsync status=none
  local t1=$(date +%s.%N); rm -f $dir/floor.bin; echo "$t1 - $t0" | bc
}
printf "%-16s %6s %6s %6s %6s %6s   (n=%s, load %s)\n" method floor merge ratio cpu rss $n "$(cut -d' ' -f1 /proc/loadavg)"
for m in $methods; do
  cfg=$dir/cfg/$m-$n.yml; F=(); T=(); C=(); R=()
  for r in $(seq $rounds); do
    sync; sleep 1; F+=($(floor $cfg))
    rm -rf $dir/out; sync; sleep 1
    /usr/bin/time -o $dir/t.txt -f "%e %M %U %S" $gm $cfg $dir/out --quiet --random-seed 1 ${GMARGS:-} >/dev/null 2>&1 || echo FAIL $m
    read e mx u s < $dir/t.txt; T+=($e); R+=($mx); C+=($(echo "$u + $s" | bc))
  done
  f=$(printf "%s\n" "${F[@]}" | median); t=$(printf "%s\n" "${T[@]}" | median); c=$(printf "%s\n" "${C[@]}" | median); rs=$(printf "%s\n" "${R[@]}" | sort -n | tail -1)
  printf "%-16s %6.2f %6.2f %6.2f %6.2f %6d\n" $m $f $t $(echo "$t / $f" | bc -l) $c $((rs/1024))
done
rm -rf $dir/out
