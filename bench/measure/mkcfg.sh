#!/usr/bin/env bash
# mkcfg.sh N -> ${BENCH_DIR:-/tmp/bm}/cfg/METHOD-N.yml for all methods
n=$1; dir=${BENCH_DIR:-/tmp/bm}; mkdir -p $dir/cfg
base=$dir/m0-6e8; others=(); for i in $(seq 1 $n); do others+=($dir/m$i-6e8); done
config() {
  local method=$1
  if [ "$method" = model_stock_fw ]; then
    config model_stock | sed 's/^dtype: bfloat16$/dtype: bfloat16\nparameters: {filter_wise: true}/'; return
  fi
  echo "merge_method: $method"
  case $method in linear) ;; *) echo "base_model: $base" ;; esac
  echo "dtype: bfloat16"
  [ "$method" = slerp ] && echo "parameters: {t: 0.4}"
  echo "models:"
  if [ "$method" = slerp ]; then echo "  - model: $base"; echo "  - model: ${others[0]}"; return; fi
  if [ "$method" = nuslerp ]; then echo "  - model: ${others[0]}"; echo "    parameters: {weight: 0.4}"; echo "  - model: ${others[1]}"; echo "    parameters: {weight: 0.6}"; return; fi
  local density=1
  case $method in ties|dare_*|breadcrumbs*|della*|sce) density=0.5 ;; esac
  local extra=
  case $method in della*) extra=", epsilon: 0.1" ;; breadcrumbs*) extra=", gamma: 0.01" ;; esac
  for m in "${others[@]}"; do
    echo "  - model: $m"
    if [ "$method" = model_stock ]; then echo "    parameters: {}"; continue; fi
    if [ "$method" = sce ]; then echo "    parameters: {weight: 0.5}"; continue; fi
    if [ "$density" = 1 ]; then echo "    parameters: {weight: 0.5}"; continue; fi
    echo "    parameters: {weight: 0.5, density: $density$extra}"
  done
  [ "$method" = sce ] && echo "parameters: {select_topk: 0.5}"
  [ "$method" = nuslerp ] && true
}
for m in linear task_arithmetic slerp ties dare_ties breadcrumbs_ties della model_stock model_stock_fw sce nuslerp; do config $m > $dir/cfg/$m-$n.yml; done
