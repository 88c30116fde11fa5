#!/bin/bash
# Prompt processing, gomerge's forward pass (eval/model) against llama.cpp's
# llama-bench on the same models and threads: the table of bench/README.md
# "Evaluation throughput (eval/model, eval/local)".
#
#	bench/llamacpp/build.sh             # once: builds /tmp/llama/bin/llama-bench
#	bench/llamacpp/run.sh               # stories260K and the 100M, 3 rounds
#	MODELS="stories260K 100M 1B" ROUNDS=5 bench/llamacpp/run.sh
#
# Models (MODELS, any of): stories260K (testdata/stories260K converted by
# `gomerge convert-llama2c`), 100M (`genmodel -size 2e8 -hidden 768
# -intermediate 2048`, 8 layers) and 1B (`genmodel -size 2.2e9`, 21 layers,
# TinyLlama's shape), made once under $WORK/models and written to GGUF by
# bench/llamacpp/hf2gguf under $WORK/gguf (the 1B takes 2.2 GB + 4.3 GB + 2.2
# GB there; delete $WORK when done). Weights (WEIGHTS): f32 (llama.cpp: F32
# matrices; gomerge: weights widened to float32 at load) and bf16 (BF16
# matrices; gomerge: model.Options.Compact, and with BF16DOT=1 also
# Options.BF16Dot, VDPBF16PS as llama.cpp on AVX512_BF16). stories260K is float32: its
# bf16 rows run a bf16 copy (a one-model linear merge with dtype bfloat16)
# on both sides.
#
# Each round runs, for every model, weights and thread count (THREADS),
# `llama-bench -p $PROMPT -n 0 -t T -r $REPS` and bench/llamacpp/pp (the
# same: a warm-up run, then REPS timed runs of Generate(ids, 1) on PROMPT
# ids), one after the other, llama.cpp first in odd rounds and gomerge first
# in even ones. The table gives medians over the rounds of tokens per second
# (the mean of the timed runs, llama-bench's avg_ts) and tokens per
# CPU-second (user+sys over the warm-up and timed runs; for llama.cpp,
# /usr/bin/time around the whole llama-bench, so its figure also carries
# its model load and, at 2 threads, its OpenMP threads' spin-waiting).
# Every measurement goes to $WORK/results.tsv; the table to stdout.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
LLAMA_BENCH=${LLAMA_BENCH:-/tmp/llama/bin/llama-bench}
WORK=${WORK:-/tmp/llamacpp-bench}
MODELS=${MODELS:-"stories260K 100M"}
WEIGHTS=${WEIGHTS:-"f32 bf16"}
THREADS=${THREADS:-"1 2"}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-3}
PROMPT=${PROMPT:-512}

if [ ! -x "$LLAMA_BENCH" ]; then
	echo "run.sh: no llama-bench at $LLAMA_BENCH: run bench/llamacpp/build.sh or set LLAMA_BENCH" >&2
	exit 1
fi
mkdir -p "$WORK/bin" "$WORK/models" "$WORK/gguf"
(cd "$root" && go build -o "$WORK/bin/" ./cmd/gomerge ./internal/testmodel/cmd/genmodel ./bench/llamacpp/hf2gguf ./bench/llamacpp/pp)
bin=$WORK/bin

# hfdir MODEL WEIGHTS: the Hugging Face directory both sides load.
hfdir() {
	case "$1:$2" in
	stories260K:bf16) echo "$WORK/models/stories260K-bf16" ;;
	*) echo "$WORK/models/$1" ;;
	esac
}

prepare() { # MODEL
	local m=$1 d=$WORK/models/$1
	if [ ! -f "$d/config.json" ]; then
		case $m in
		stories260K) "$bin/gomerge" convert-llama2c "$root/testdata/stories260K/stories260K.bin" "$d" >/dev/null ;;
		100M) "$bin/genmodel" -size 2e8 -hidden 768 -intermediate 2048 "$d" ;;
		1B) "$bin/genmodel" -size 2.2e9 "$d" ;;
		*)
			echo "run.sh: unknown model $m (stories260K, 100M, 1B)" >&2
			exit 1
			;;
		esac
	fi
	if [ "$m" = stories260K ] && [ ! -f "$WORK/models/stories260K-bf16/config.json" ]; then
		printf 'merge_method: linear\ndtype: bfloat16\nmodels:\n  - model: %s\n    parameters:\n      weight: 1.0\n' "$d" >"$WORK/models/stories260K-bf16.yml"
		"$bin/gomerge" "$WORK/models/stories260K-bf16.yml" "$WORK/models/stories260K-bf16" --quiet
	fi
	for w in $WEIGHTS; do
		local g=$WORK/gguf/$m-$w.gguf
		[ -f "$g" ] || "$bin/hf2gguf" -type "$w" "$(hfdir "$m" "$w")" "$g"
	done
}

res=$WORK/results.tsv
[ -f "$res" ] || printf 'round\tmodel\tweights\tthreads\tside\ttok_s\tcpu_s\ttokens\n' >"$res"

# csvcol NAME CSV: column NAME of the one data row of llama-bench -o csv.
csvcol() {
	printf '%s\n' "$2" | awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) { f = $i; gsub(/"/, "", f); if (f == name) c = i }; next }
		c { f = $c; gsub(/"/, "", f); print f; exit }'
}

run_llama() { # ROUND MODEL WEIGHTS THREADS
	local out tf
	tf=$(mktemp)
	out=$(/usr/bin/time -f "%U %S" -o "$tf" "$LLAMA_BENCH" -m "$WORK/gguf/$2-$3.gguf" -p "$PROMPT" -n 0 -t "$4" -r "$REPS" -o csv 2>>"$WORK/llama-bench.log")
	printf '%s\t%s\t%s\t%s\tllama.cpp\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$(csvcol avg_ts "$out")" "$(awk '{ print $1 + $2 }' "$tf")" \
		$((PROMPT * (REPS + 1))) >>"$res"
	csvcol build_commit "$out" >"$WORK/llama-bench.commit"
	rm -f "$tf"
}

run_gomerge() { # ROUND MODEL WEIGHTS THREADS
	local flags="" out
	[ "$3" = bf16 ] && flags=-compact
	[ "$3" = bf16 ] && [ "${BF16DOT:-0}" = 1 ] && flags="$flags -bf16dot"
	out=$("$bin/pp" -model "$(hfdir "$2" "$3")" $flags -t "$4" -p "$PROMPT" -r "$REPS")
	printf '%s\t%s\t%s\t%s\tgomerge\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" \
		"$(kv tok_s "$out")" "$(kv cpu_s "$out")" "$(kv tokens "$out")" >>"$res"
}

kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

for m in $MODELS; do prepare "$m"; done
start=$(($(wc -l <"$res")))
for r in $(seq 1 "$ROUNDS"); do
	for m in $MODELS; do
		for w in $WEIGHTS; do
			for t in $THREADS; do
				echo "round $r: $m $w $t thread(s)" >&2
				if [ $((r % 2)) = 1 ]; then
					run_llama "$r" "$m" "$w" "$t"
					run_gomerge "$r" "$m" "$w" "$t"
				else
					run_gomerge "$r" "$m" "$w" "$t"
					run_llama "$r" "$m" "$w" "$t"
				fi
			done
		done
	done
done

# The table: medians of this run's rounds.
tail -n +$((start + 1)) "$res" | python3 -c '
import sys, statistics
rows = {}
order = []
for line in sys.stdin:
    r, m, w, t, side, ts, cpu, tok = line.rstrip("\n").split("\t")
    key = (m, w, t)
    if key not in rows:
        rows[key] = {"llama.cpp": ([], []), "gomerge": ([], [])}
        order.append(key)
    rows[key][side][0].append(float(ts))
    rows[key][side][1].append(float(tok) / float(cpu))
def fmt(x):
    return "%.0f" % x if x >= 100 else "%.1f" % x
print("| model | weights | threads | llama.cpp tok/s | gomerge tok/s | ratio | llama.cpp tok/CPU-s | gomerge tok/CPU-s | ratio |")
print("|---|---|---|---|---|---|---|---|---|")
for key in order:
    l, g = rows[key]["llama.cpp"], rows[key]["gomerge"]
    lt, gt = statistics.median(l[0]), statistics.median(g[0])
    lc, gc = statistics.median(l[1]), statistics.median(g[1])
    print("| %s | %s | %s | %s | %s | %.2f | %s | %s | %.2f |" % (key + (fmt(lt), fmt(gt), gt / lt, fmt(lc), fmt(gc), gc / lc)))
'
echo "(ratio = gomerge / llama.cpp, above 1 is faster; medians of $ROUNDS rounds; llama.cpp build $(cat "$WORK/llama-bench.commit"); $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
