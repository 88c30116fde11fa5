#!/bin/bash
# Builds llama.cpp's llama-bench for the CPU without cmake: gets the llama.cpp
# tree that npm's node-llama-cpp 3.22.1 bundles (a git bundle of llama.cpp at
# de3ff81, llama-bench's "build: de3ff81"), writes the headers cmake would
# configure, and compiles ggml-base, ggml-cpu (OpenMP, llamafile sgemm,
# repack), ggml, llama, llama-common and tools/llama-bench with gcc/g++ -O3
# -march=native, as `cmake -DGGML_NATIVE=ON -DGGML_OPENMP=ON` would.
#
#	bench/llamacpp/build.sh            # -> $LLAMA_DIR/bin/llama-bench
#
# LLAMA_DIR (default /tmp/llama) holds the npm tarball, the source (src/) and
# the build (build/, bin/); nothing is written into the repository. JOBS
# (default 1) is make's -j: the build runs under nice -n 19, one compiler at
# a time unless told otherwise, for the machine is shared. The
# optimisation levels: GGML_OPT (default -O3) for ggml-base, ggml-cpu and
# ggml, where llama-bench spends its time; LLAMA_OPT (default -O3) for
# llama (model loading and graph building, a few hundred microseconds per
# 512-token batch) and llama-bench; COMMON_OPT (default -O1) for
# llama-common and cpp-httplib (argument parsing, chat templates,
# downloads: nothing llama-bench times), which are half the build and
# slower to compile at -O3. With LLAMA_OPT=-O1 COMMON_OPT=-O0 JOBS=2 it
# took 45 minutes at load 16-19 on the 2-CPU VM (2026-12-07). Rerunning it
# only recompiles what changed, sources or levels. Needs npm (or LLAMA_TGZ, the tarball), git, gcc,
# g++ and make.
set -euo pipefail

LLAMA_DIR=${LLAMA_DIR:-/tmp/llama}
JOBS=${JOBS:-1}
GGML_OPT=${GGML_OPT:--O3}
LLAMA_OPT=${LLAMA_OPT:--O3}
COMMON_OPT=${COMMON_OPT:--O1}
VERSION=3.22.1
mkdir -p "$LLAMA_DIR"
cd "$LLAMA_DIR"

tgz=${LLAMA_TGZ:-$LLAMA_DIR/node-llama-cpp-$VERSION.tgz}
if [ ! -f "$tgz" ]; then
	npm pack --silent "node-llama-cpp@$VERSION" >/dev/null
fi
if [ ! -d src/.git ]; then
	rm -rf package src
	tar xzf "$tgz" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
	git clone -q package/llama/gitRelease.bundle src
	rm -rf package
fi
commit=$(git -C src rev-parse --short=7 HEAD)

gen=build/gen
mkdir -p "$gen" bin
cmake_version() { # FILE PREFIX: MAJOR.MINOR.PATCH from set(PREFIX_VERSION_* N)
	local maj min pat
	maj=$(sed -n "s/^set($2_VERSION_MAJOR \([0-9]*\))/\1/p" "$1")
	min=$(sed -n "s/^set($2_VERSION_MINOR \([0-9]*\))/\1/p" "$1")
	pat=$(sed -n "s/^set($2_VERSION_PATCH \([0-9]*\))/\1/p" "$1")
	echo "$maj.$min.$pat"
}
ggml_version=$(cmake_version src/ggml/CMakeLists.txt GGML)
llama_version=$(cmake_version src/CMakeLists.txt LLAMA)
compiler="GNU $(gcc -dumpfullversion)"
target=$(gcc -dumpmachine)
# configure_file writes these; only rewrite them when they change, so that
# make does not recompile everything.
put() { # FILE CONTENT
	if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then printf '%s\n' "$2" >"$1"; fi
}
put "$gen/ggml-version.h" "#pragma once
#define GGML_VERSION \"$ggml_version\"
#define GGML_COMMIT  \"$commit\""
put "$gen/llama-version.h" "#pragma once
#define LLAMA_VERSION \"$llama_version\"
#define LLAMA_COMMIT  \"$commit\""
# make does not see flags: objects depend on this stamp, so that a build
# at other optimisation levels recompiles them.
put "$gen/flags" "GGML_OPT=$GGML_OPT LLAMA_OPT=$LLAMA_OPT COMMON_OPT=$COMMON_OPT $(gcc -dumpfullversion)"
put "$gen/build-info.cpp" "$(sed -e "s/@LLAMA_BUILD_NUMBER@/0/" -e "s/@LLAMA_BUILD_COMMIT@/$commit/" \
	-e "s/@BUILD_COMPILER@/$compiler/" -e "s/@BUILD_TARGET@/$target/" src/common/build-info.cpp.in)"

# The sources of each library, as the CMakeLists list them. The model
# sources (src/models/*.cpp) go in as cmake's unity build batches them, 16
# to a file in file-name order, which also keeps the compile time down.
ggml_base="ggml/src/ggml.c ggml/src/ggml.cpp ggml/src/ggml-alloc.c ggml/src/ggml-backend.cpp
	ggml/src/ggml-backend-meta.cpp ggml/src/ggml-opt.cpp ggml/src/ggml-threading.cpp
	ggml/src/ggml-quants.c ggml/src/gguf.cpp"
ggml_cpu="ggml/src/ggml-cpu/ggml-cpu.c ggml/src/ggml-cpu/ggml-cpu.cpp ggml/src/ggml-cpu/repack.cpp
	ggml/src/ggml-cpu/iqp.cpp ggml/src/ggml-cpu/hbm.cpp ggml/src/ggml-cpu/quants.c
	ggml/src/ggml-cpu/traits.cpp ggml/src/ggml-cpu/amx/amx.cpp ggml/src/ggml-cpu/amx/mmq.cpp
	ggml/src/ggml-cpu/binary-ops.cpp ggml/src/ggml-cpu/unary-ops.cpp ggml/src/ggml-cpu/vec.cpp
	ggml/src/ggml-cpu/ops.cpp ggml/src/ggml-cpu/arch/x86/quants.c ggml/src/ggml-cpu/arch/x86/repack.cpp
	ggml/src/ggml-cpu/llamafile/sgemm.cpp"
ggml_reg="ggml/src/ggml-backend-dl.cpp ggml/src/ggml-backend-reg.cpp"
for f in $ggml_base $ggml_cpu $ggml_reg; do
	[ -f "src/$f" ] || { echo "build.sh: src/$f is missing: the source tree differs from de3ff81's" >&2; exit 1; }
done
mkdir -p "$gen/unity"
llama_unity=""
i=0
for f in $(cd src/src && ls models/*.cpp | LC_ALL=C sort); do
	b=$((i / 16))
	[ $((i % 16)) -eq 0 ] && : >"$gen/unity/llama_$b.cpp.new"
	echo "#include \"$PWD/src/src/$f\"" >>"$gen/unity/llama_$b.cpp.new"
	i=$((i + 1))
done
for n in "$gen"/unity/*.new; do
	put "${n%.new}" "$(cat "$n")"
	rm "$n"
	llama_unity="$llama_unity ${n%.new}"
done
llama_core=$(cd src && ls src/*.cpp | LC_ALL=C sort)
common=$(cd src && ls common/*.cpp common/jinja/*.cpp common/parsers/*.cpp | LC_ALL=C sort)
bench="tools/llama-bench/llama-bench.cpp tools/llama-bench/main.cpp"

# make does the incremental part.
cat >build/Makefile <<EOF
S := $LLAMA_DIR/src
O := $LLAMA_DIR/build/obj
G := $LLAMA_DIR/$gen
CC := gcc
CXX := g++
OPT := $LLAMA_OPT
COMMON = \$(OPT) -march=native -DNDEBUG -D_XOPEN_SOURCE=600 -D_GNU_SOURCE -DGGML_SCHED_MAX_COPIES=4 -DGGML_USE_CPU -fopenmp -pthread
INC := -I\$(G) -I\$(S)/ggml/include -I\$(S)/ggml/src -I\$(S)/include -I\$(S)/src -I\$(S)/common -I\$(S)/vendor
CFLAGS = \$(COMMON) -std=gnu11 \$(INC)
CXXFLAGS = \$(COMMON) -std=gnu++17 \$(INC)
CPUFLAGS := -DGGML_USE_OPENMP -DGGML_USE_LLAMAFILE -DGGML_USE_CPU_REPACK -I\$(S)/ggml/src/ggml-cpu

GGML_BASE := $(for f in $ggml_base; do printf '$(O)/%s.o ' "$f"; done)
GGML_CPU := $(for f in $ggml_cpu; do printf '$(O)/%s.o ' "$f"; done)
GGML_REG := $(for f in $ggml_reg; do printf '$(O)/%s.o ' "$f"; done)
LLAMA := $(for f in $llama_core; do printf '$(O)/%s.o ' "$f"; done) $(for f in $llama_unity; do printf '$(O)/unity/%s.o ' "$(basename "$f")"; done)
COMMONO := $(for f in $common vendor/cpp-httplib/httplib.cpp; do printf '$(O)/%s.o ' "$f"; done) \$(O)/build-info.cpp.o
BENCH := $(for f in $bench; do printf '$(O)/%s.o ' "$f"; done)

$LLAMA_DIR/bin/llama-bench: \$(BENCH) \$(O)/libggml-base.a \$(O)/libggml-cpu.a \$(O)/libggml.a \$(O)/libllama.a \$(O)/libllama-common.a
	\$(CXX) -fopenmp -pthread -o \$@ \$(BENCH) -Wl,--start-group \$(O)/libllama-common.a \$(O)/libllama.a \$(O)/libggml.a \$(O)/libggml-cpu.a \$(O)/libggml-base.a -Wl,--end-group -ldl -lm

\$(O)/libggml-base.a: \$(GGML_BASE)
\$(O)/libggml-cpu.a: \$(GGML_CPU)
\$(O)/libggml.a: \$(GGML_REG)
\$(O)/libllama.a: \$(LLAMA)
\$(O)/libllama-common.a: \$(COMMONO)
\$(COMMONO): OPT := $COMMON_OPT
# llama's src/ is private to it: common/unicode.h must not meet src/unicode.h.
\$(COMMONO) \$(BENCH): INC := -I\$(G) -I\$(S)/common -I\$(S)/ggml/include -I\$(S)/include -I\$(S)/vendor
\$(GGML_BASE) \$(GGML_CPU) \$(GGML_REG): OPT := $GGML_OPT
\$(O)/%.a:
	rm -f \$@ && ar rcs \$@ \$^

\$(O)/ggml/src/ggml-cpu/%.c.o: \$(S)/ggml/src/ggml-cpu/%.c \$(G)/flags
	@mkdir -p \$(dir \$@)
	\$(CC) \$(CFLAGS) \$(CPUFLAGS) -c \$< -o \$@
\$(O)/ggml/src/ggml-cpu/%.cpp.o: \$(S)/ggml/src/ggml-cpu/%.cpp \$(G)/flags
	@mkdir -p \$(dir \$@)
	\$(CXX) \$(CXXFLAGS) \$(CPUFLAGS) -c \$< -o \$@
\$(O)/ggml/%.c.o: \$(S)/ggml/%.c \$(G)/flags
	@mkdir -p \$(dir \$@)
	\$(CC) \$(CFLAGS) -DGGML_USE_OPENMP -c \$< -o \$@
\$(O)/ggml/%.cpp.o: \$(S)/ggml/%.cpp \$(G)/flags
	@mkdir -p \$(dir \$@)
	\$(CXX) \$(CXXFLAGS) -DGGML_USE_OPENMP -c \$< -o \$@
\$(O)/unity/%.cpp.o: \$(G)/unity/%.cpp \$(G)/flags
	@mkdir -p \$(dir \$@)
	\$(CXX) \$(CXXFLAGS) -c \$< -o \$@
\$(O)/build-info.cpp.o: \$(G)/build-info.cpp \$(G)/flags
	@mkdir -p \$(dir \$@)
	\$(CXX) \$(CXXFLAGS) -c \$< -o \$@
\$(O)/%.cpp.o: \$(S)/%.cpp \$(G)/flags
	@mkdir -p \$(dir \$@)
	\$(CXX) \$(CXXFLAGS) -c \$< -o \$@
EOF
nice -n 19 make -s -j"$JOBS" -f build/Makefile
echo "$LLAMA_DIR/bin/llama-bench (llama.cpp $commit)"
