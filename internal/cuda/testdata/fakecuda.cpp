// A fake CUDA driver and cuBLAS for testing package cuda's Go code on a
// machine without a GPU. It implements the Driver API calls the package
// binds on the host: device memory is host memory, the kernels are
// kernels.cu compiled for the host (GM_HOST_EMULATION) and run one thread
// at a time, and every asynchronous operation waits in its stream's queue
// until the stream (or the context) is synchronized, so that Go code which
// reads a pinned buffer too early, or reuses one while a copy from it is
// pending, sees wrong data. cublasGemmEx is a naive column-major GEMM.
//
// Kernels marked cooperative (those with shared memory and __syncthreads)
// run each block's threads as fibers (ucontext) over one shared-memory
// buffer of the launch's size: a thread runs until it reaches a barrier,
// and no thread passes a barrier before every thread of the block has
// reached it, which is __syncthreads' contract. A block whose threads
// disagree on the barriers (some finish while others wait) aborts.
//
// Built by fake_test.go:
//   clang++-14 -std=c++17 -shared -fPIC -O1 -ffp-contract=off \
//     -DGM_HOST_EMULATION -o libfakecuda.so fakecuda.cpp
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <ucontext.h>
#include <vector>

static thread_local unsigned g_tid, g_ntid, g_ctaid, g_nctaid;
static unsigned __nvvm_read_ptx_sreg_tid_x() { return g_tid; }
static unsigned __nvvm_read_ptx_sreg_ntid_x() { return g_ntid; }
static unsigned __nvvm_read_ptx_sreg_ctaid_x() { return g_ctaid; }
static unsigned __nvvm_read_ptx_sreg_nctaid_x() { return g_nctaid; }

static double __nvvm_sqrt_rn_d(double x) { return __builtin_sqrt(x); }

// Cooperative blocks: the running block's shared memory, its threads'
// fibers and the scheduler's context.
struct fiber {
  ucontext_t ctx;
  int state; // 0 runnable, 1 waiting at a barrier, 2 finished
};
static unsigned char *g_smem;
static fiber *g_cur;
static ucontext_t g_sched;
static bool g_coop;
static void __syncthreads() {
  if (!g_coop) {
    fprintf(stderr, "fakecuda: __syncthreads in a kernel not marked cooperative\n");
    abort();
  }
  g_cur->state = 1;
  swapcontext(&g_cur->ctx, &g_sched);
}
#define SMEM ((float *)g_smem)
#define GLOBAL static
#define DEVICE static inline
#include "../kernels.cu"

typedef int CUresult;
typedef void (*trampoline)(const std::vector<uint64_t> &);

template <class T> static T arg(const std::vector<uint64_t> &a, int i) {
  T v;
  memcpy(&v, &a[i], sizeof v);
  return v;
}
#define P(T, i) arg<T>(a, i)

struct kernel {
  const char *name;
  int nargs;
  trampoline fn;
  bool coop; // uses shared memory and __syncthreads: run as fibers
};
static const kernel kernels[] = {
    {"gm_weighted_sum", 9, [](const std::vector<uint64_t> &a) {
       gm_weighted_sum(P(float *, 0), P(const float *, 1), P(u64, 2), P(const float *, 3), P(int, 4), P(u64, 5), P(int, 6), P(int, 7), P(float, 8));
     }},
    {"gm_ties", 8, [](const std::vector<uint64_t> &a) {
       gm_ties(P(float *, 0), P(const float *, 1), P(u64, 2), P(const float *, 3), P(int, 4), P(u64, 5), P(int, 6), P(int, 7));
     }},
    {"gm_scale_round", 4, [](const std::vector<uint64_t> &a) { gm_scale_round(P(float *, 0), P(u64, 1), P(float, 2), P(int, 3)); }},
    {"gm_sub_round", 5, [](const std::vector<uint64_t> &a) {
       gm_sub_round(P(float *, 0), P(const float *, 1), P(const float *, 2), P(u64, 3), P(int, 4));
     }},
    {"gm_blend", 7, [](const std::vector<uint64_t> &a) {
       gm_blend(P(float *, 0), P(const float *, 1), P(const float *, 2), P(u64, 3), P(float, 4), P(float, 5), P(int, 6));
     }},
    {"gm_add_inplace", 3, [](const std::vector<uint64_t> &a) { gm_add_inplace(P(float *, 0), P(const float *, 1), P(u64, 2)); }},
    {"gm_rmsnorm", 6, [](const std::vector<uint64_t> &a) {
       gm_rmsnorm(P(float *, 0), P(const float *, 1), P(const float *, 2), P(u64, 3), P(u64, 4), P(u64, 5));
     }},
    {"gm_rope", 6, [](const std::vector<uint64_t> &a) {
       gm_rope(P(float *, 0), P(const float *, 1), P(const float *, 2), P(u64, 3), P(u64, 4), P(u64, 5));
     }},
    {"gm_bernoulli", 6, [](const std::vector<uint64_t> &a) {
       gm_bernoulli(P(float *, 0), P(u64, 1), P(u64, 2), P(u64, 3), P(u64, 4), P(u64 *, 5));
     }},
    {"gm_prune_magnitude", 4, [](const std::vector<uint64_t> &a) { gm_prune_magnitude(P(float *, 0), P(u64, 1), P(u32, 2), P(u64, 3)); }},
    {"gm_bf16_to_f32", 3, [](const std::vector<uint64_t> &a) { gm_bf16_to_f32(P(float *, 0), P(const u16 *, 1), P(u64, 2)); }},
    {"gm_f32_to_bf16", 3, [](const std::vector<uint64_t> &a) { gm_f32_to_bf16(P(u16 *, 0), P(const float *, 1), P(u64, 2)); }},
    {"gm_f16_to_f32", 3, [](const std::vector<uint64_t> &a) { gm_f16_to_f32(P(float *, 0), P(const u16 *, 1), P(u64, 2)); }},
    {"gm_f32_to_f16", 3, [](const std::vector<uint64_t> &a) { gm_f32_to_f16(P(u16 *, 0), P(const float *, 1), P(u64, 2)); }},
    {"gm_act_mul", 4, [](const std::vector<uint64_t> &a) { gm_act_mul(P(float *, 0), P(const float *, 1), P(u64, 2), P(int, 3)); }},
    {"gm_add_bias", 4, [](const std::vector<uint64_t> &a) { gm_add_bias(P(float *, 0), P(const float *, 1), P(u64, 2), P(u64, 3)); }},
    {"gm_embed_bf16", 6, [](const std::vector<uint64_t> &a) {
       gm_embed_bf16(P(float *, 0), P(const u16 *, 1), P(const int *, 2), P(u64, 3), P(u64, 4), P(float, 5));
     }},
    {"gm_log_probs", 5,
     [](const std::vector<uint64_t> &a) {
       gm_log_probs(P(double *, 0), P(int *, 1), P(const float *, 2), P(const int *, 3), P(u64, 4));
     },
     true},
    {"gm_softcap", 3, [](const std::vector<uint64_t> &a) { gm_softcap(P(float *, 0), P(u64, 1), P(float, 2)); }},
    {"gm_attention", 14,
     [](const std::vector<uint64_t> &a) {
       gm_attention(P(float *, 0), P(const float *, 1), P(const float *, 2), P(const float *, 3), P(u64, 4), P(u64, 5),
                    P(u64, 6), P(u64, 7), P(u64, 8), P(float, 9), P(u64, 10), P(float, 11), P(u64, 12), P(u64, 13));
     },
     true},
};

// run_block runs one block of a cooperative kernel: each thread a fiber,
// resumed in turn until it waits at a barrier or finishes; a round in
// which every thread reached the barrier releases them all. The order
// alternates between rounds.
static const kernel *g_kernel;
static const std::vector<uint64_t> *g_args;
static void fiber_main() {
  g_kernel->fn(*g_args);
  g_cur->state = 2;
} // returns to uc_link, the scheduler
static void run_block(const kernel *k, const std::vector<uint64_t> &a, unsigned bx, size_t shared) {
  const size_t stack = 64 << 10;
  static std::vector<char> stacks;
  static std::vector<fiber> fibers;
  stacks.resize(bx * stack);
  fibers.resize(bx);
  std::vector<unsigned char> mem(shared);
  memset(mem.data(), 0xa5, shared); // garbage, as shared memory
  g_smem = mem.data();
  g_kernel = k;
  g_args = &a;
  g_coop = true;
  for (unsigned t = 0; t < bx; t++) {
    fiber &f = fibers[t];
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = &stacks[t * stack];
    f.ctx.uc_stack.ss_size = stack;
    f.ctx.uc_link = &g_sched;
    makecontext(&f.ctx, fiber_main, 0);
    f.state = 0;
  }
  for (unsigned round = 0;; round++) {
    unsigned done = 0, waiting = 0;
    for (unsigned u = 0; u < bx; u++) {
      // Alternate rounds run the threads in reverse, so that a thread
      // reading what another writes between the same two barriers sees
      // it unwritten one way or the other.
      unsigned t = round % 2 ? bx - 1 - u : u;
      fiber &f = fibers[t];
      if (f.state != 2) {
        f.state = 0;
        g_tid = t;
        g_cur = &f;
        swapcontext(&g_sched, &f.ctx);
      }
      done += f.state == 2;
      waiting += f.state == 1;
    }
    if (done == bx) break;
    if (done != 0) {
      fprintf(stderr, "fakecuda: %s: %u threads finished while %u wait at __syncthreads\n", k->name, done, waiting);
      abort();
    }
  }
  g_coop = false;
  g_smem = nullptr;
}

struct stream {
  std::deque<std::function<void()>> q;
};
static stream default_stream;
static std::vector<stream *> streams{&default_stream};
static stream *S(void *s) { return s ? (stream *)s : &default_stream; }
static void drain(stream *s) {
  while (!s->q.empty()) {
    s->q.front()();
    s->q.pop_front();
  }
}
static std::map<uint64_t, size_t> allocs; // device allocations: base → size
static bool initialized;

extern "C" {
CUresult cuInit(unsigned) {
  initialized = true;
  return 0;
}
CUresult cuGetErrorName(CUresult r, const char **s) {
  *s = r == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : r == 1 ? "CUDA_ERROR_INVALID_VALUE" : "CUDA_ERROR_UNKNOWN";
  return 0;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
  *s = r == 2 ? "out of memory" : r == 1 ? "invalid argument" : "unknown error";
  return 0;
}
CUresult cuDeviceGetCount(int *n) { return initialized ? (*n = 1, 0) : 3; }
CUresult cuDeviceGet(int *d, int o) { return o == 0 ? (*d = 0, 0) : 101; }
CUresult cuDeviceGetName(char *name, int n, int) {
  strncpy(name, "Fake GPU (host emulation)", n);
  return 0;
}
CUresult cuDeviceGetAttribute(int *v, int attr, int) {
  *v = attr == 75 ? 8 : 0;
  return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *n, int) {
  *n = size_t(1) << 30;
  return 0;
}
CUresult cuDriverGetVersion(int *v) {
  *v = 13000;
  return 0;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int) {
  *ctx = (void *)&default_stream;
  return 0;
}
CUresult cuDevicePrimaryCtxRelease_v2(int) { return 0; }
CUresult cuCtxSetCurrent(void *) { return 0; }
CUresult cuCtxSynchronize() {
  for (auto s : streams) drain(s);
  return 0;
}
CUresult cuModuleLoadDataEx(void **mod, const char *image, unsigned, int *, void **) {
  if (!strstr(image, ".target sm_80") || !strstr(image, ".entry gm_")) return 218; // CUDA_ERROR_INVALID_PTX
  *mod = (void *)kernels;
  return 0;
}
CUresult cuModuleUnload(void *) { return 0; }
CUresult cuModuleGetFunction(void **f, void *, const char *name) {
  for (auto &k : kernels)
    if (!strcmp(k.name, name)) return (*f = (void *)&k, 0);
  return 500; // CUDA_ERROR_NOT_FOUND
}
// GOMERGE_FAKE_CUDA_FREE, if set, is the free memory cuMemGetInfo reports
// (allocations are still limited to 512 MiB each), for out-of-memory tests.
CUresult cuMemGetInfo_v2(size_t *free, size_t *total) {
  const char *f = getenv("GOMERGE_FAKE_CUDA_FREE");
  *free = f ? size_t(strtoull(f, nullptr, 10)) : size_t(1) << 29;
  *total = size_t(1) << 30;
  return 0;
}
CUresult cuMemAlloc_v2(uint64_t *p, size_t n) {
  if (n > (size_t(1) << 29)) return 2;
  void *m = malloc(n);
  memset(m, 0xa5, n); // garbage, as device memory
  *p = (uint64_t)m;
  allocs[*p] = n;
  return 0;
}
CUresult cuMemFree_v2(uint64_t p) {
  if (!allocs.erase(p)) return 1;
  free((void *)p);
  return 0;
}
CUresult cuMemAllocHost_v2(void **p, size_t n) {
  *p = malloc(n);
  return 0;
}
CUresult cuMemFreeHost(void *p) {
  free(p);
  return 0;
}
// inside checks that [p, p+n) lies in one device allocation.
static bool inside(uint64_t p, size_t n) {
  auto it = allocs.upper_bound(p);
  if (it == allocs.begin()) return false;
  --it;
  return p >= it->first && p + n <= it->first + it->second;
}
CUresult cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t n, void *s) {
  if (!inside(dst, n)) return 1;
  S(s)->q.push_back([=] { memcpy((void *)dst, src, n); });
  return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t n, void *s) {
  if (!inside(src, n)) return 1;
  S(s)->q.push_back([=] { memcpy(dst, (void *)src, n); });
  return 0;
}
CUresult cuMemsetD32Async(uint64_t dst, unsigned v, size_t n, void *s) {
  if (!inside(dst, 4 * n)) return 1;
  S(s)->q.push_back([=] {
    for (size_t i = 0; i < n; i++) ((unsigned *)dst)[i] = v;
  });
  return 0;
}
CUresult cuStreamCreate(void **s, unsigned) {
  auto st = new stream;
  streams.push_back(st);
  *s = st;
  return 0;
}
CUresult cuStreamDestroy_v2(void *s) {
  drain(S(s));
  return 0;
}
CUresult cuStreamSynchronize(void *s) {
  drain(S(s));
  return 0;
}
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void *s, void **params, void **) {
  auto k = (const kernel *)f;
  if (gx == 0 || bx == 0 || bx > 1024 || gy != 1 || gz != 1 || by != 1 || bz != 1) return 1;
  if (shared > 48 << 10 || (shared != 0 && !k->coop)) return 1; // more needs cuFuncSetAttribute
  std::vector<uint64_t> a(k->nargs);
  for (int i = 0; i < k->nargs; i++) memcpy(&a[i], params[i], 8); // copied at launch, as CUDA does
  S(s)->q.push_back([=] {
    g_nctaid = gx;
    g_ntid = bx;
    for (unsigned b = 0; b < gx; b++) {
      g_ctaid = b;
      if (k->coop) {
        run_block(k, a, bx, shared);
        continue;
      }
      for (unsigned t = 0; t < bx; t++) {
        g_tid = t;
        k->fn(a);
      }
    }
  });
  return 0;
}

// cuBLAS
CUresult cublasCreate_v2(void **h) {
  *h = (void *)1;
  return 0;
}
CUresult cublasDestroy_v2(void *) { return 0; }
static stream *blas_stream = &default_stream;
CUresult cublasSetStream_v2(void *, void *s) {
  blas_stream = S(s);
  return 0;
}
static float load(const void *p, size_t i, int type) {
  if (type == 0) return ((const float *)p)[i];
  return from_bf16(((const u16 *)p)[i]);
}
// cublasGemmEx: column-major C (m×n) = op(A) (m×k) · op(B) (k×n), op a
// transpose where ta or tb is CUBLAS_OP_T (1), alpha and beta read from the
// host at the call, queued on the handle's stream.
CUresult cublasGemmEx(void *, int ta, int tb, int m, int n, int k, const float *alpha, uint64_t A, int at, int lda,
                      uint64_t B, int bt, int ldb, const float *beta, uint64_t C, int ct, int ldc, int compute, int) {
  if (ta < 0 || ta > 1 || tb < 0 || tb > 1 || compute != 68 || lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m)
    return 7; // CUBLAS_STATUS_INVALID_VALUE
  float al = *alpha, be = *beta;
  blas_stream->q.push_back([=] {
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) {
        double acc = 0;
        for (int l = 0; l < k; l++) {
          size_t ai = ta ? l + size_t(i) * lda : i + size_t(l) * lda, bi = tb ? j + size_t(l) * ldb : l + size_t(j) * ldb;
          acc += double(load((void *)A, ai, at)) * load((void *)B, bi, bt);
        }
        float c = al * float(acc) + (be != 0 ? be * load((void *)C, i + size_t(j) * ldc, ct) : 0);
        if (ct == 0)
          ((float *)C)[i + size_t(j) * ldc] = c;
        else
          ((u16 *)C)[i + size_t(j) * ldc] = to_bf16(c);
      }
  });
  return 0;
}
}
