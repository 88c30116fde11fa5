#!/usr/bin/env bash
# jscale.sh N ROUNDS "methods": GOMAXPROCS=1 -j1 vs -j2, medians; GM=binary
n=$1; rounds=$2; gm=${GM:-${BENCH_DIR:-/tmp/bm}/gm}; d=${BENCH_DIR:-/tmp/bm}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for m in $3; do
  cfg=$d/cfg/$m-$n.yml; A=(); B=(); CA=(); CB=()
  for r in $(seq $rounds); do
    rm -rf $d/out; sync; sleep 1
    /usr/bin/time -o $d/t.txt -f "%e %U %S" env GOMAXPROCS=1 $gm $cfg $d/out --quiet --random-seed 1 -j 1 >/dev/null 2>&1; read e u s < $d/t.txt; A+=($e); CA+=($(echo "$u+$s"|bc))
    rm -rf $d/out; sync; sleep 1
    /usr/bin/time -o $d/t.txt -f "%e %U %S" $gm $cfg $d/out --quiet --random-seed 1 -j 2 >/dev/null 2>&1; read e u s < $d/t.txt; B+=($e); CB+=($(echo "$u+$s"|bc))
  done
  a=$(printf "%s\n" "${A[@]}" | median); b=$(printf "%s\n" "${B[@]}" | median)
  ca=$(printf "%s\n" "${CA[@]}" | median); cb=$(printf "%s\n" "${CB[@]}" | median)
  printf "%-16s n=%s -j1 %5.2f s (%5.2f cpu)  -j2 %5.2f s (%5.2f cpu)  speedup %.2f\n" $m $n $a $ca $b $cb $(echo "$a/$b"|bc -l)
done
rm -rf $d/out
