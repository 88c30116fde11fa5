#!/usr/bin/env bash
# bench/run.sh [SIZE_BYTES] [N_MODELS]: merge speed and memory against the I/O floor.
#
# Generates N_MODELS (default 2) bf16 Llama-shaped fine-tunes plus a base of
# about SIZE_BYTES (default 1.5e9) each with internal/testmodel, then for
# each method measures the wall time of `gomerge` and of the I/O floor in the
# same rounds, one after the other ($RUNS rounds, default 5, page cache
# warm): the floor reads every byte of the models the config names once
# and writes and syncs a file of the output's size (the first model's
# bytes piped into dd oflag=direct conv=fsync, the others cat to
# /dev/null). It
# prints the medians and their ratio, and the floor's range, since this
# VM's disk varies from run to run.
# Peak RSS comes from /usr/bin/time when it is installed.
# METHODS takes merge_method names and model_stock_fw (model_stock with
# filter_wise). SCALING=1 adds a table of -j 1 (GOMAXPROCS=1) against -j 2 for the
# compute-bound methods.
# Models are kept in $BENCH_DIR (default /tmp/gomerge-bench) between runs.
set -euo pipefail
size=${1:-1.5e9}
n=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${BENCH_DIR:-/tmp/gomerge-bench}
mkdir -p "$dir"
go build -o "$dir/gomerge" "$root/cmd/gomerge"
go build -o "$dir/genmodel" "$root/internal/testmodel/cmd/genmodel"

models=()
for i in $(seq 0 "$n"); do
  m="$dir/m$i-$size"
  if [ ! -f "$m/config.json" ]; then
    if [ "$i" = 0 ]; then "$dir/genmodel" -size "$size" -seed 1 "$m" >/dev/null
    else "$dir/genmodel" -size "$size" -seed 1 -delta 0.002 -delta-seed "$((i + 1))" "$m" >/dev/null; fi
  fi
  models+=("$m")
done
base=${models[0]}
others=("${models[@]:1}")

config() { # method -> YAML on stdout (model_stock_fw: model_stock with filter_wise)
  local method=$1
  if [ "$method" = model_stock_fw ]; then
    config model_stock | sed 's/^dtype: bfloat16$/dtype: bfloat16\nparameters: {filter_wise: true}/'
    return
  fi
  echo "merge_method: $method"
  case $method in
    linear) ;;
    *) echo "base_model: $base" ;;
  esac
  echo "dtype: bfloat16"
  [ "$method" = slerp ] && echo "parameters: {t: 0.4}"
  echo "models:"
  if [ "$method" = slerp ]; then
    echo "  - model: $base"; echo "  - model: ${others[0]}"; return
  fi
  local density=1
  case $method in ties|dare_*|breadcrumbs*|della*) density=0.5 ;; esac
  local extra=
  case $method in della*) extra=", epsilon: 0.1" ;; breadcrumbs*) extra=", gamma: 0.01" ;; esac
  for m in "${others[@]}"; do
    echo "  - model: $m"
    if [ "$method" = model_stock ]; then echo "    parameters: {}"; continue; fi
    if [ "$density" = 1 ]; then echo "    parameters: {weight: 0.5}"; continue; fi
    echo "    parameters: {weight: 0.5, density: $density$extra}"
  done
}

secs() { # command... -> wall seconds, peak RSS KiB (or -) on stdout
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -o "$dir/time.txt" -f "%e %M" "$@" >/dev/null 2>&1
    tail -1 "$dir/time.txt"
  else
    local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
    echo "$(echo "$t1 - $t0" | bc) -"
  fi
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

inputs=()
for m in "${models[@]}"; do inputs+=("$m"/*.safetensors); done
cat "${inputs[@]}" >/dev/null # warm the page cache
outbytes=$(stat -c %s "$base"/*.safetensors | awk '{s+=$1} END {printf "%.0f", s}')

floor() { # config -> seconds to read the models it names and write the output
  # The output is as large as the base (or first) model, so the floor
  # streams that model's bytes into the output file and reads every other
  # model once. Real data, written with O_DIRECT: on this VM runs of zeros
  # write differently, and a page-cache write of gigabytes followed by one
  # fsync is throttled to a third of the disk's speed and varies from run
  # to run; O_DIRECT is both the fastest and the steadiest way to write, so
  # the floor is the disk's own speed.
  local f="$dir/floor.bin"
  local t0 t1 first=() rest=() ms
  ms=$(grep -oE 'model: [^ ]+' "$1" | cut -d' ' -f2 | awk '!seen[$0]++')
  for m in $ms; do
    if [ ${#first[@]} = 0 ]; then first=("$m"/*.safetensors); else rest+=("$m"/*.safetensors); fi
  done
  t0=$(date +%s.%N)
  [ ${#rest[@]} = 0 ] || cat "${rest[@]}" >/dev/null
  if [ ${#first[@]} = 1 ]; then
    dd if="${first[0]}" of="$f" bs=16M oflag=direct conv=fsync status=none
  else
    cat "${first[@]}" | dd of="$f" bs=16M iflag=fullblock oflag=direct conv=fsync status=none
  fi
  t1=$(date +%s.%N)
  rm -f "$f"
  echo "$t1 - $t0" | bc
}

runs=${RUNS:-5}
# settle lets the disk finish earlier writes (the last output, its
# deletion) so that each measurement starts from the same state.
settle() { sync; sleep "${SETTLE:-2}"; }
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(date -u +%F)"
echo "models: $n + base, $(du -sh "$base" | cut -f1) each (bf16); output $((outbytes / 1000000)) MB; $runs rounds"
printf "%-16s %9s %13s %9s %7s %10s\n" method "floor s" "floor range" "merge s" ratio "peak RSS"
for method in ${METHODS:-linear slerp task_arithmetic ties dare_ties}; do
  if [ "$method" = slerp ] && [ "$n" -lt 1 ]; then continue; fi
  config "$method" >"$dir/$method.yml"
  floors=(); times=(); rss=()
  for i in $(seq "$runs"); do
    settle
    floors+=("$(floor "$dir/$method.yml")")
    rm -rf "$dir/out"
    settle
    read -r t r < <(secs "$dir/gomerge" "$dir/$method.yml" "$dir/out" --quiet --random-seed 1)
    times+=("$t"); rss+=("$r")
  done
  f=$(printf "%s\n" "${floors[@]}" | median)
  lo=$(printf "%s\n" "${floors[@]}" | sort -n | head -1)
  hi=$(printf "%s\n" "${floors[@]}" | sort -n | tail -1)
  t=$(printf "%s\n" "${times[@]}" | median)
  r=$(printf "%s\n" "${rss[@]}" | median)
  [ "$r" != - ] && r="$((r / 1024)) MiB"
  printf "%-16s %9.2f %6.2f-%-6.2f %9.2f %7.2f %10s\n" "$method" "$f" "$lo" "$hi" "$t" "$(echo "$t / $f" | bc -l)" "$r"
done

if [ "${SCALING:-0}" = 1 ]; then
  echo
  echo "thread scaling (median of $runs; -j 1 runs with GOMAXPROCS=1)"
  printf "%-16s %9s %9s %7s\n" method "-j 1 s" "-j 2 s" speedup
  for method in ${SCALING_METHODS:-ties dare_ties della breadcrumbs_ties model_stock}; do
    config "$method" >"$dir/$method.yml"
    t1=(); t2=()
    for i in $(seq "$runs"); do
      rm -rf "$dir/out"; settle
      read -r t _ < <(secs env GOMAXPROCS=1 "$dir/gomerge" "$dir/$method.yml" "$dir/out" --quiet --random-seed 1 -j 1)
      t1+=("$t")
      rm -rf "$dir/out"; settle
      read -r t _ < <(secs "$dir/gomerge" "$dir/$method.yml" "$dir/out" --quiet --random-seed 1 -j 2)
      t2+=("$t")
    done
    a=$(printf "%s\n" "${t1[@]}" | median)
    b=$(printf "%s\n" "${t2[@]}" | median)
    printf "%-16s %9.2f %9.2f %7.2f\n" "$method" "$a" "$b" "$(echo "$a / $b" | bc -l)"
  done
fi
rm -rf "$dir/out"
