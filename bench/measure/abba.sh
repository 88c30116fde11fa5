#!/usr/bin/env bash
# abba.sh N "methods" binA binB [rounds]: A B B A per round; mean wall/CPU/RSS; cmp outputs
n=$1; methods=$2; A=$3; B=$4; rounds=${5:-1}; d=${ABBA_DIR:-/tmp/abba}; mkdir -p $d
for m in $methods; do
  cfg=${BENCH_DIR:-/tmp/bm}/cfg/$m-$n.yml; : > $d/A.txt; : > $d/B.txt
  for r in $(seq $rounds); do for x in A B B A; do
    bin=$A; [ $x = B ] && bin=$B
    rm -rf $d/out$x; sync; sleep 1
    /usr/bin/time -o $d/t.txt -f "%e %M %U %S" $bin $cfg $d/out$x --quiet --random-seed 1 ${GMARGS:-} >/dev/null 2>&1 || echo FAIL $m $x
    read e mx u s < $d/t.txt; echo "$e $(echo "$u + $s" | bc) $mx" >> $d/$x.txt
  done; done
  same=identical; cmp -s $d/outA/model.safetensors $d/outB/model.safetensors || same=DIFFER
  a=$(awk '{w+=$1;c+=$2;r+=$3} END {printf "%.2f %.2f %d", w/NR, c/NR, r/NR/1024}' $d/A.txt)
  b=$(awk '{w+=$1;c+=$2;r+=$3} END {printf "%.2f %.2f %d", w/NR, c/NR, r/NR/1024}' $d/B.txt)
  set -- $a; aw=$1 ac=$2 ar=$3; set -- $b
  printf "%-16s n=%s wall %s -> %s  cpu %s -> %s  rss %s -> %s  %s\n" $m $n $aw $1 $ac $2 $ar $3 $same
  rm -rf $d/outA $d/outB
done
