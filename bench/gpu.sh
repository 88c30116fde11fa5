#!/usr/bin/env bash
# bench/gpu.sh: the one prepared run on an NVIDIA GPU machine (no Go, no
# network there). Build here first, then run on the device from the repo
# root with .gpu/ carried (see bench/README.md, "GPU"):
#
#   bench/gpu.sh build        # here: tagged gomerge, genmodel, test binaries, gzipped, into .gpu/
#   bench/gpu.sh              # there: GPU tests, golden merges CPU vs GPU, benchmark table
#
# Steps on the device, each printed with its wall time:
#   1. internal/cuda's tests with GOMERGE_REQUIRE_CUDA=1 (a GPU that does
#      not open fails them): every kernel against package tensor, bit for
#      bit; cuBLAS GEMM against a float64 reference; out-of-memory error.
#   2. cmd/gomerge's TestDeviceFlags: --device cuda|auto merges equal --device cpu;
#      TestEvalDevice: eval --device cuda scores as the CPU does (bf16 tolerance).
#   3. every config of testdata/golden merged with --device cpu and
#      --device cuda (seed 42): the output files must be equal byte for byte.
#   4. benchmarks: a bf16 base and two fine-tunes with 7B shapes (Llama 2
#      7B's: hidden 4096, intermediate 11008, vocabulary 32000, 32 heads of
#      128; BENCH_SIZE bytes each,
#      default 3e9, 6 layers; 13.5e9 is a whole 7B; BENCH_SHAPE
#      overrides the genmodel shape flags), generated there;
#      ties and dare_ties with --device cpu and cuda against the disk floor
#      (read the inputs, write one model); then GEMM TFLOP/s and the TIES
#      combine in GB/s, GPU and CPU.
#   6. prompt scoring tokens/s (LogProbsBatch, the evolve evaluator's inner
#      loop; internal/cuda's BenchmarkScoring, 8 documents of 512 tokens)
#      on a ~1B bf16 model (genmodel -size 2.2e9: TinyLlama's shape, 32
#      heads over 4 kv heads of 64) and on
#      step 4's 7B-shaped base: GPU, CPU (1 document), and
#      PyTorch/transformers eager bf16 (bench/score_torch.py) where python3
#      with torch and transformers is installed. The forward-pass tests
#      (TestForward*, GPU against CPU log-probs) run in step 1.
# GPU_SH_FAKE=/path/libfakecuda.so runs the script against the fake driver
# of internal/cuda/testdata (a dry run without a GPU; tiny models).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
g=$root/.gpu

if [ "${1:-}" = build ]; then
  set -e
  mkdir -p "$g"
  export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false -trimpath"
  strip=(-ldflags="-s -w") # .gpu must stay well under the run tool's 64 MiB carry
  go build "${strip[@]}" -tags cuda -o "$g/gomerge" ./cmd/gomerge
  go build "${strip[@]}" -o "$g/genmodel" ./internal/testmodel/cmd/genmodel
  go test -c "${strip[@]}" -tags cuda -o "$g/cuda.test" ./internal/cuda
  go test -c "${strip[@]}" -tags cuda -o "$g/gomerge.test" ./cmd/gomerge
  gzip -9f "$g/gomerge" "$g/genmodel" "$g/cuda.test" "$g/gomerge.test"
  ls -la "$g"
  exit 0
fi

work=${GPU_SH_DIR:-/tmp/gomerge-gpu}
mkdir -p "$work/bin"
for f in gomerge genmodel cuda.test gomerge.test; do
  [ -f "$g/$f.gz" ] || { echo "gpu.sh: $g/$f.gz missing: run bench/gpu.sh build where Go is, and carry .gpu"; exit 2; }
  gzip -dc "$g/$f.gz" >"$work/bin/$f" && chmod +x "$work/bin/$f"
done
g=$work/bin
export GOMERGE_REQUIRE_CUDA=1
for d in /usr/local/nvidia/lib64 /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d" # libcuda, cuBLAS
done
size=${BENCH_SIZE:-3e9}
shape=${BENCH_SHAPE:-"-hidden 4096 -intermediate 11008 -vocab 32000 -heads 32 -kv-heads 32"}
if [ -n "${GPU_SH_FAKE:-}" ]; then
  export GOMERGE_FAKE_CUDA=$GPU_SH_FAKE GOMERGE_LIBCUDA=$GPU_SH_FAKE GOMERGE_LIBCUBLAS=$GPU_SH_FAKE
  size=${BENCH_SIZE:-5e7}
  shape=${BENCH_SHAPE:-"-hidden 512 -intermediate 1376 -vocab 32000"}
  export GPU_SH_BENCH=${GPU_SH_BENCH:-SignConsensus} # a naive GEMM on the host would take hours
  export SCORE_1B_SIZE=${SCORE_1B_SIZE:-5e7} SCORE_1B_SHAPE=${SCORE_1B_SHAPE:-"-hidden 512 -intermediate 1376 -vocab 32000"}
fi
status=0
step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }
fail() { echo "FAIL: $*"; status=1; }

step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
nproc; free -g | head -2

step "1. internal/cuda tests"
(cd internal/cuda && "$g/cuda.test" -test.v -test.run . 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|device:|\.go:[0-9]+:' | grep -v '=== RUN') || fail "internal/cuda tests"

step "2. cmd/gomerge TestDeviceFlags, TestEvalDevice"
(cd cmd/gomerge && "$g/gomerge.test" -test.run '^Test(DeviceFlags|EvalDevice)$' -test.v 2>&1 | tail -8) | tee "$work/flags.log"
grep -q '^--- PASS: TestDeviceFlags' "$work/flags.log" || fail "TestDeviceFlags"
grep -q '^--- PASS: TestEvalDevice' "$work/flags.log" || fail "TestEvalDevice"

step "3. golden configs: --device cuda against --device cpu"
n=0 same=0
gw=$work/golden
rm -rf "$gw"; mkdir -p "$gw"; ln -s "$root/testdata/golden/models" "$gw/models"
for cfg in testdata/golden/*/config.yml; do
  name=$(basename "$(dirname "$cfg")")
  mkdir -p "$gw/$name"; cp "$cfg" "$gw/$name/config.yml"
  n=$((n + 1))
  ok=1
  for dev in cpu cuda; do # the same output name: it is written into README.md (the marker holds the time: not compared)
    if ! (cd "$gw" && "$g/gomerge" "$name/config.yml" "$name/out" --device "$dev" --random-seed 42 --quiet >"$name/$dev.log" 2>&1 &&
      mv "$name/out" "$name/$dev"); then
      echo "$name: --device $dev failed: $(tail -1 "$gw/$name/$dev.log")"; ok=0
    fi
  done
  if [ $ok = 1 ]; then
    if diff -r -x .gomerge-output.json "$gw/$name/cpu" "$gw/$name/cuda" >/dev/null; then same=$((same + 1)); else echo "$name: outputs differ"; ok=0; fi
  fi
done
echo "$same/$n golden configs: --device cuda wrote the CPU's bytes"
[ "$same" = "$n" ] || fail "golden configs"

step "4. benchmark models: base + 2 fine-tunes, bf16, $shape, $size bytes each"
read -ra shape <<<"$shape -size $size"
for i in 0 1 2; do
  m=$work/m$i-$size
  [ -f "$m/config.json" ] && continue
  if [ $i = 0 ]; then "$g/genmodel" "${shape[@]}" -seed 1 "$m" >/dev/null
  else "$g/genmodel" "${shape[@]}" -seed 1 -delta 0.002 -delta-seed $((i + 1)) "$m" >/dev/null; fi || fail "genmodel"
done
du -sh "$work"/m*-"$size" | tr '\n' ' '; echo
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || echo "failed: $*" >&2; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}'; }
floor() {
  cat "$work"/m*-"$size"/*.safetensors >/dev/null
  rm -rf "$work/floor"; mkdir -p "$work/floor"
  for f in "$work/m0-$size"/*.safetensors; do dd if="$f" of="$work/floor/$(basename "$f")" bs=16M oflag=direct conv=fsync status=none; done
}
cat "$work"/m*-"$size"/*.safetensors >/dev/null # page cache warm for every row
echo "| method | device | seconds | floor s | ratio |"
echo "|---|---|---|---|---|"
for method in ties dare_ties; do
  c=$work/$method.yml
  { echo "merge_method: $method"; echo "base_model: $work/m0-$size"; echo "dtype: bfloat16"; echo "models:"
    for i in 1 2; do echo "  - model: $work/m$i-$size"; echo "    parameters: {weight: 0.5, density: 0.5}"; done; } >"$c"
  fl=$(secs floor)
  for dev in cpu cuda; do
    rm -rf "$work/out-$method-$dev" "$work/out"
    s=$(secs "$g/gomerge" "$c" "$work/out" --device "$dev" --random-seed 7 --quiet)
    mv "$work/out" "$work/out-$method-$dev"
    echo "| $method | $dev | $s | $fl | $(awk -v a="$s" -v b="$fl" 'BEGIN{printf "%.2f", a/b}') |"
  done
  diff -r -x .gomerge-output.json "$work/out-$method-cpu" "$work/out-$method-cuda" >/dev/null && echo "($method: GPU output = CPU output)" || fail "$method: GPU output differs from CPU"
  rm -rf "$work/out-$method-cpu" "$work/out-$method-cuda" "$work/floor"
done

step "5. kernels: GEMM (device-resident) and the TIES combine (host to host)"
(cd internal/cuda && "$g/cuda.test" -test.run '^$' -test.bench "${GPU_SH_BENCH:-GEMM|SignConsensus}" -test.benchtime 10x 2>&1 | grep -E 'Benchmark|FAIL|ok') || fail "benchmarks"

step "6. prompt scoring tokens/s: GPU vs CPU vs transformers eager bf16"
m1=$work/score-1b
[ -f "$m1/config.json" ] || "$g/genmodel" -size "${SCORE_1B_SIZE:-2.2e9}" ${SCORE_1B_SHAPE:-"-heads 32 -kv-heads 4"} -seed 1 "$m1" >/dev/null || fail "genmodel 1B"
docs=${SCORE_DOCS:-8} len=${SCORE_LEN:-512}
if [ -n "${GPU_SH_FAKE:-}" ]; then docs=${SCORE_DOCS:-1} len=${SCORE_LEN:-8}; fi
torch_ok=0
[ -z "${GPU_SH_FAKE:-}" ] && python3 -c 'import torch, transformers; assert torch.cuda.is_available()' 2>/dev/null && torch_ok=1
for m in "$m1" "$work/m0-$size"; do
  echo "-- $(basename "$m"): $(grep -oE '"num_hidden_layers": *[0-9]+' "$m/config.json"), $(du -sh "$m" | cut -f1)"
  (cd internal/cuda && GOMERGE_SCORE_MODEL=$m GOMERGE_SCORE_DOCS=$docs GOMERGE_SCORE_LEN=$len \
    "$g/cuda.test" -test.run '^$' -test.bench '^BenchmarkScoring$' -test.benchtime 3x 2>&1 | grep -E 'Benchmark|FAIL|ok') || fail "scoring $m"
  if [ $torch_ok = 1 ]; then
    timeout 300 python3 bench/score_torch.py "$m" "$docs" "$len" 3 2>&1 | tail -1 || fail "score_torch.py $m"
  else
    echo "(no python3 with torch, transformers and CUDA here: no transformers row)"
  fi
done

step "done"
[ $status = 0 ] && echo "gpu.sh: all checks passed" || echo "gpu.sh: FAILURES above"
exit $status
