// Merge kernels for gomerge's CUDA backend. Built without the CUDA toolkit:
// gen.sh compiles this file with clang alone (no cuda.h, no libdevice), so
// the few intrinsics used are declared here from clang's NVPTX builtins.
//
// Every merge kernel reproduces the CPU path of package tensor bit for bit:
// float32 operations are separately rounded (gen.sh passes
// -ffp-contract=off, so no multiply-add is fused), divisions are IEEE
// (div.rn.f32), denormals are kept (no .ftz), and the 16-bit roundings are
// the integer formulas of tensor.F32ToBF16 and tensor.F32ToF16. Only NaN
// payloads may differ: a GPU add or multiply of NaNs returns the canonical
// NaN where x86 returns the first operand's payload.
//
// Work dtype codes: 0 = float32 (also float64, carried in float32),
// 1 = bfloat16, 2 = float16.
//
// The forward-pass kernels (gm_act_mul onwards) are checked against
// float64 references within documented tolerances instead: there is no
// CUDA math library here, so their exp, tanh, erfc and log are written
// out below in software, from the same exact-arithmetic instructions.

#ifndef GM_HOST_EMULATION
#define GLOBAL extern "C" __attribute__((global))
#define DEVICE static __attribute__((device)) __attribute__((always_inline)) inline
// The block's dynamic shared memory (the launch's sharedMemBytes).
extern __attribute__((shared)) __attribute__((aligned(16))) float gm_smem[];
#define SMEM gm_smem
#endif

typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned short u16;

DEVICE u64 gid() {
  return (u64)__nvvm_read_ptx_sreg_ctaid_x() * (u64)__nvvm_read_ptx_sreg_ntid_x() +
         (u64)__nvvm_read_ptx_sreg_tid_x();
}
DEVICE u64 gstride() {
  return (u64)__nvvm_read_ptx_sreg_nctaid_x() * (u64)__nvvm_read_ptx_sreg_ntid_x();
}
DEVICE u32 fbits(float f) { return __builtin_bit_cast(u32, f); }
DEVICE float bitsf(u32 u) { return __builtin_bit_cast(float, u); }

// bf16 rounding: tensor.F32ToBF16 then BF16ToF32.
DEVICE u16 to_bf16(float f) {
  u32 b = fbits(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return (u16)(b >> 16) | 0x0040;
  return (u16)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}
DEVICE float from_bf16(u16 h) { return bitsf((u32)h << 16); }

// f16 rounding: tensor.F32ToF16 and F16ToF32.
DEVICE u16 to_f16(float f) {
  u32 b = fbits(f);
  u32 a = b & 0x7fffffffu;
  u32 m = a < 0x47800000u ? a : 0x47800000u;
  u16 h = (u16)((m - ((127u - 15u) << 23) + 0xfffu + ((m >> 13) & 1u)) >> 13);
  if (a < 0x38800000u) {
    // Adding 0.5 (ulp 2^-24, the f16 subnormal step) rounds to nearest even.
    float s = bitsf(a) + 0.5f;
    h = (u16)(fbits(s) - 0x3f000000u);
  }
  if (a > 0x7f800000u) h = 0x7e00 | (u16)((a >> 13) & 0x3ffu);
  return h | (u16)((b >> 16) & 0x8000u);
}
DEVICE float from_f16(u16 h) {
  u32 a = (u32)(h & 0x7fff) << 13;
  u32 e = a & 0x0f800000u;
  u32 r = a + ((127u - 15u) << 23);
  float sub = bitsf(r + (1u << 23)) - 0x1p-14f;
  if (e == 0x0f800000u) r += (128u - 16u) << 23;
  if (e == 0) r = fbits(sub);
  return bitsf(r | ((u32)(h & 0x8000) << 16));
}

DEVICE float rnd(int work, float v) {
  if (work == 1) return from_bf16(to_bf16(v));
  if (work == 2) return from_f16(to_f16(v));
  return v;
}

// gm_weighted_sum: out[j] = round(Σ_i round(w_i·x_i[j])), the sum in
// float32 in input order, then round(out[j]/div) when normalize.
// Input i is xs[i*stride : i*stride+n].
GLOBAL void gm_weighted_sum(float *out, const float *xs, u64 stride, const float *ws, int k, u64 n,
                            int work, int normalize, float div) {
  for (u64 j = gid(); j < n; j += gstride()) {
    float acc = 0.0f;
    for (int i = 0; i < k; i++) acc = acc + rnd(work, ws[i] * xs[(u64)i * stride + j]);
    acc = rnd(work, acc);
    if (normalize) acc = rnd(work, acc / div);
    out[j] = acc;
  }
}

// gm_ties: TIES sign consensus of the task vectors ds (unweighted): each is
// scaled by its weight and rounded, the sign of their sum (rounded) is
// elected (≥ 0 elects +), the non-zero entries of that sign are summed and
// rounded, and with normalize divided by the rounded sum of their weights
// where that is not zero.
GLOBAL void gm_ties(float *out, const float *ds, u64 stride, const float *ws, int k, u64 n, int work,
                    int normalize) {
  for (u64 j = gid(); j < n; j += gstride()) {
    float sign = 0.0f;
    for (int i = 0; i < k; i++) sign = sign + rnd(work, ds[(u64)i * stride + j] * ws[i]);
    sign = rnd(work, sign);
    float m = 0.0f, div = 0.0f;
    for (int i = 0; i < k; i++) {
      float d = rnd(work, ds[(u64)i * stride + j] * ws[i]);
      if (d != 0.0f && (d < 0.0f) == (sign < 0.0f)) {
        m = m + d;
        div = div + ws[i];
      }
    }
    m = rnd(work, m);
    if (normalize) {
      div = rnd(work, div);
      if (div != 0.0f) m = rnd(work, m / div);
    }
    out[j] = m;
  }
}

// gm_scale_round: x[j] = round(x[j]·a).
GLOBAL void gm_scale_round(float *x, u64 n, float a, int work) {
  for (u64 j = gid(); j < n; j += gstride()) x[j] = rnd(work, x[j] * a);
}

// gm_sub_round: dst[j] = round(a[j] − b[j]).
GLOBAL void gm_sub_round(float *dst, const float *a, const float *b, u64 n, int work) {
  for (u64 j = gid(); j < n; j += gstride()) dst[j] = rnd(work, a[j] - b[j]);
}

// gm_blend: out[j] = round(round(s0·a[j]) + round(s1·b[j])), the two-input
// linear blend (lerp, and slerp once its scalars are known).
GLOBAL void gm_blend(float *out, const float *a, const float *b, u64 n, float s0, float s1, int work) {
  for (u64 j = gid(); j < n; j += gstride()) out[j] = rnd(work, rnd(work, s0 * a[j]) + rnd(work, s1 * b[j]));
}

// gm_add_inplace: x[j] = x[j] + y[j] in float32, the forward pass's
// residual add (eval/model adds the attention and MLP outputs to the
// residual stream in float32 without rounding).
GLOBAL void gm_add_inplace(float *x, const float *y, u64 n) {
  for (u64 j = gid(); j < n; j += gstride()) x[j] = x[j] + y[j];
}

// gm_rmsnorm: each of the rows of x (d floats) into dst as eval/model's
// rmsNorm: r = float32(1/sqrt(float64(float32(Σx²/d + eps)))) with Σx² in
// float64, then dst[i] = float32(x[i]·r)·w[i]. eps is a float64's bits.
// One thread per row (a grid-stride loop over the rows).
GLOBAL void gm_rmsnorm(float *dst, const float *x, const float *w, u64 rows, u64 d, u64 eps_bits) {
  double eps = __builtin_bit_cast(double, eps_bits);
  for (u64 t = gid(); t < rows; t += gstride()) {
    const float *xs = x + t * d;
    float *ds = dst + t * d;
    double ss = 0.0;
    for (u64 i = 0; i < d; i++) ss = ss + (double)xs[i] * (double)xs[i];
    double m = (double)(float)(ss / (double)d + eps);
    double q = __nvvm_sqrt_rn_d(m), inv;
#ifdef GM_HOST_EMULATION
    inv = 1.0 / q;
#else // div.rn.f64 written out: clang would emit rcp.rn.f64 (also exact)
    asm("div.rn.f64 %0, 0d3FF0000000000000, %1;" : "=d"(inv) : "d"(q));
#endif
    float r = (float)inv;
    for (u64 i = 0; i < d; i++) ds[i] = (xs[i] * r) * w[i];
  }
}

// gm_rope: rotates each head of x ([n, heads·d], HF's rotate_half layout:
// pairs i and i+d/2) by the angles of its row, whose cos and sin the host
// computed as eval/model's applyRope does ([n, d/2] tables each):
// a·cos − b·sin and b·cos + a·sin. One thread per pair.
GLOBAL void gm_rope(float *x, const float *cs, const float *sn, u64 n, u64 heads, u64 d) {
  u64 half = d / 2;
  for (u64 j = gid(); j < n * heads * half; j += gstride()) {
    u64 i = j % half, th = j / half, t = th / heads;
    float *v = x + th * d;
    float c = cs[t * half + i], s = sn[t * half + i];
    float a = v[i], b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
  }
}

DEVICE u64 mix64(u64 z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// warp_count adds the number of threads of the warp with p set to *counter
// (one atomic per warp). Every thread of the warp must call it.
DEVICE void warp_count(u64 *counter, int p) {
#ifdef GM_HOST_EMULATION // testdata/fakecuda.cpp runs one thread at a time
  if (p) *counter += 1;
#else
  u32 ballot = __nvvm_vote_ballot_sync(0xffffffffu, p);
  if ((__nvvm_read_ptx_sreg_tid_x() & 31u) == 0 && ballot != 0)
    __nvvm_atom_add_gen_ll((long long *)counter, (long long)__builtin_popcount(ballot));
#endif
}

// gm_bernoulli: DARE's mask. Element j takes 32-bit draw first+j of the
// SplitMix64 stream of key: the low half (even draw) or high half (odd
// draw) of 64-bit output (first+j)/2 + 1. It is kept when the draw is
// below bound (≤ 2^32) and otherwise cleared to +0; kept counts the kept
// elements. Same bytes as tensor.SplitMix64 + KeepBelow.
GLOBAL void gm_bernoulli(float *x, u64 n, u64 key, u64 first, u64 bound, u64 *kept) {
  u64 end = (n + 31) & ~31ull; // whole warps run warp_count
  for (u64 j = gid(); j < end; j += gstride()) {
    int keep = 0;
    if (j < n) {
      u64 d = first + j;
      u64 w = mix64(key + (d / 2 + 1) * 0x9e3779b97f4a7c15ull);
      u32 draw = (d & 1) ? (u32)(w >> 32) : (u32)w;
      keep = (u64)draw < bound;
      if (!keep) x[j] = 0.0f;
    }
    warp_count(kept, keep);
  }
}

// gm_prune_magnitude: keeps the elements whose magnitude bits are above
// thr, and those equal to it before index tie_end; clears the rest to +0.
GLOBAL void gm_prune_magnitude(float *x, u64 n, u32 thr, u64 tie_end) {
  for (u64 j = gid(); j < n; j += gstride()) {
    u32 u = fbits(x[j]) & 0x7fffffffu;
    if (!(u > thr || (u == thr && j < tie_end))) x[j] = 0.0f;
  }
}

// Conversions between stored 16-bit values and float32, round to nearest
// even, as tensor.Decode and Encode.
GLOBAL void gm_bf16_to_f32(float *dst, const u16 *src, u64 n) {
  for (u64 j = gid(); j < n; j += gstride()) dst[j] = from_bf16(src[j]);
}
GLOBAL void gm_f32_to_bf16(u16 *dst, const float *src, u64 n) {
  for (u64 j = gid(); j < n; j += gstride()) dst[j] = to_bf16(src[j]);
}
GLOBAL void gm_f16_to_f32(float *dst, const u16 *src, u64 n) {
  for (u64 j = gid(); j < n; j += gstride()) dst[j] = from_f16(src[j]);
}
GLOBAL void gm_f32_to_f16(u16 *dst, const float *src, u64 n) {
  for (u64 j = gid(); j < n; j += gstride()) dst[j] = to_f16(src[j]);
}

// ---- Forward-pass kernels ------------------------------------------------

// Software transcendentals. gen.sh passes -nocudalib (no libdevice), and
// TestPTXExactArithmetic rejects ex2.approx and friends, so these are
// polynomials over add, mul and IEEE division, each marked with its source
// and error.

// gm_recip is 1/x, IEEE-rounded: div.rn.f32 written out, since clang
// emits rcp.rn.f32 for 1.0f/x (also exact, but TestPTXExactArithmetic
// rejects every rcp).
DEVICE float gm_recip(float x) {
#ifdef GM_HOST_EMULATION
  return 1.0f / x;
#else
  float r;
  asm("div.rn.f32 %0, 0f3F800000, %1;" : "=f"(r) : "f"(x));
  return r;
#endif
}

// gm_exp is e^x for x ≤ 0 (callers subtract a maximum first), NaN for
// NaN: Cephes' expf, the exp32 of eval/model's softmax_generic.go (range
// reduction x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial), relative
// error below 2e-7, except that below float32's normal range (and for −∞)
// it returns 0 where exp32 clamps to e^−87.34: a masked score's weight
// must be 0.
DEVICE float gm_exp(float x) {
  if (x != x) return x;
  if (x < -87.33654f) return 0.0f;
  float n = __builtin_rintf(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f - n * -2.12194440e-4f;
  float p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
             1.6666665459e-1f) * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  return p * bitsf((u32)((int)n + 127) << 23);
}

// gm_exp_d is e^a for a double a ≤ 0: a = h + l with h its float32
// rounding, e^h·(1 + l). A float32 argument of magnitude 20 would carry a
// rounding of 1e-6, which e^a turns into a relative error of 1e-6; the
// split keeps gm_exp's 2e-7.
DEVICE float gm_exp_d(double a) {
  float h = (float)a;
  if (!(h >= -87.33654f)) return gm_exp(h); // 0, or NaN for NaN (and −∞ − −∞ is no l)
  float l = (float)(a - (double)h);
  return gm_exp(h) * (1.0f + l);
}

// gm_sigmoid is 1/(1+e^−x) of a double x, from e^−|x| only (no
// overflow, no cancellation): relative error a few float32 ulps.
DEVICE float gm_sigmoid(double x) {
  float e = gm_exp_d(x < 0.0 ? x : -x);
  return x >= 0.0 ? gm_recip(1.0f + e) : e / (1.0f + e);
}

// gm_tanh is tanh(x): Cephes' tanhf polynomial below |x| = 0.625, where
// 1 − 2/(e^2x + 1) would cancel, and (1 − t)/(1 + t) with t = e^−2|x|
// above; relative error a few float32 ulps.
DEVICE float gm_tanh(float x) {
  float a = __builtin_fabsf(x);
  if (a < 0.625f) {
    float z = x * x;
    float p = (((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
              3.33332819422e-1f;
    return x + x * z * p;
  }
  float t = gm_exp(-2.0f * a);
  float r = (1.0f - t) / (1.0f + t);
  return x < 0.0f ? -r : r;
}

// gm_erfc is erfc(z) for a double z ≥ 0: Numerical Recipes' erfcc (a
// Chebyshev fit of t·e^(−z²+P(t)), t = 1/(1+z/2), fractional error below
// 1.2e-7 everywhere), in float32 but for −z², whose rounding would become
// a relative error of the result (2z²·1e-7): with z = zf + zl (zf its
// float32 rounding) and h the top 12 bits of zf, so that h² is exact,
// −z² ≈ −h² − (2h·l + l²) − 2zf·zl with l = zf − h, and e^−h² and the
// rest are exponentiated separately.
DEVICE float gm_erfc(double zd) {
  float z = (float)zd;
  if (z != z) return z;
  if (z >= 10.0f) return 0.0f; // erfc(10) is below float32's subnormals (and ∞ − ∞ is no zl)
  float zl = (float)(zd - (double)z);
  float t = gm_recip(1.0f + 0.5f * z);
  float p = -1.26551223f +
            t * (1.00002368f +
                 t * (0.37409196f +
                      t * (0.09678418f +
                           t * (-0.18628806f +
                                t * (0.27886807f +
                                     t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
  float h = bitsf(fbits(z) & 0xfffff000u), l = z - h;
  return t * gm_exp(-(h * h)) * gm_exp(p - (2.0f * h * l + l * l) - 2.0f * z * zl);
}

// gm_log is the natural logarithm of a positive double: x = 2^e·m with
// √½ ≤ m < √2, log m = 2·atanh(s), s = (m−1)/(m+1), |s| ≤ 0.172, by its
// series to s^25 (truncation below 1e-17), and e·ln2 in two parts (fdlibm's
// ln2_hi, ln2_lo); error about 1e-16 relative. +∞ for +∞, NaN for NaN and
// x ≤ 0 (−∞ for 0); subnormal x are not asked for.
DEVICE double gm_log(double x) {
  if (x != x || x < 0.0) return __builtin_nan("");
  if (x == 0.0) return -__builtin_inf();
  if (x == __builtin_inf()) return x;
  u64 b = __builtin_bit_cast(u64, x);
  int e = (int)((b >> 52) & 0x7ff) - 1023;
  double m = __builtin_bit_cast(double, (b & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
  if (m > 1.4142135623730951) {
    m = m * 0.5;
    e = e + 1;
  }
  double s = (m - 1.0) / (m + 1.0), z = s * s;
  double p = 1.0 / 25;
  for (int k = 11; k >= 0; k--) p = p * z + 1.0 / (2 * k + 1);
  return (double)e * 6.93147180369123816490e-01 + (2.0 * s * p + (double)e * 1.90821492927058770002e-10);
}

// Activation kinds of gm_act_mul (Go's actSiLU, actGELUTanh, actGELUErf).
#define ACT_SILU 0
#define ACT_GELU_TANH 1
#define ACT_GELU_ERF 2

// gm_act_mul: g[j] = float32(act(g[j]))·u[j], the gated MLP's activation
// times the up projection, as eval/model's activate. GELU's 1 + tanh(u)
// is computed as 2·sigmoid(2u) and 1 + erf(z) as 2 − erfc(z) or erfc(−z),
// equal in exact arithmetic, so that no negative x cancels; their
// arguments are formed in double (see gm_exp_d), the rest in float32.
GLOBAL void gm_act_mul(float *g, const float *u, u64 n, int kind) {
  for (u64 j = gid(); j < n; j += gstride()) {
    float x = g[j], a;
    double xd = x;
    if (kind == ACT_SILU) {
      a = x * gm_sigmoid(xd);
    } else if (kind == ACT_GELU_TANH) {
      a = x * gm_sigmoid(1.5957691216057308 * (xd + 0.044715 * (xd * xd * xd)));
    } else {
      double z = xd * 0.70710678118654752;
      a = 0.5f * x * (x >= 0.0f ? 2.0f - gm_erfc(z) : gm_erfc(-z));
    }
    g[j] = a * u[j];
  }
}

// gm_add_bias: x[r·dim + j] += b[j] for every row r, a projection's bias.
// The column steps by gstride % dim with a carry: no division per element.
GLOBAL void gm_add_bias(float *x, const float *b, u64 rows, u64 dim) {
  u64 j = gid(), c = j % dim, dc = gstride() % dim;
  for (; j < rows * dim; j += gstride()) {
    x[j] = x[j] + b[c];
    c += dc;
    if (c >= dim) c -= dim;
  }
}

// gm_embed_bf16: dst row t = the bf16 table's row ids[t] (hidden wide) as
// float32, times scale when scale is not 1, as eval/model's embedding
// (exact: one rounding, the same as the CPU's). Row and column step as in
// gm_add_bias.
GLOBAL void gm_embed_bf16(float *dst, const u16 *table, const int *ids, u64 n, u64 hidden, float scale) {
  u64 j = gid(), t = j / hidden, c = j % hidden, dt = gstride() / hidden, dc = gstride() % hidden;
  for (; j < n * hidden; j += gstride()) {
    float v = from_bf16(table[(u64)(u32)ids[t] * hidden + c]);
    if (scale != 1.0f) v = v * scale;
    dst[j] = v;
    t += dt;
    c += dc;
    if (c >= hidden) {
      c -= hidden;
      t++;
    }
  }
}

// block_reduce combines v over the block's threads (a power of two) with
// op through the shared array red (one double per thread) and returns the
// result to every thread. Every thread of the block must call it.
template <class F> DEVICE double block_reduce(double *red, double v, F op) {
  u32 tid = __nvvm_read_ptx_sreg_tid_x(), nt = __nvvm_read_ptx_sreg_ntid_x();
  red[tid] = v;
  __syncthreads();
  for (u32 s = nt / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] = op(red[tid], red[tid + s]);
    __syncthreads();
  }
  double r = red[0];
  __syncthreads(); // red is reused by the next call
  return r;
}

// gm_log_probs: out[r] = log softmax(logits row r)[targets[r]] in float64,
// one block per row: m = the row's maximum (NaNs skipped, as maxF32), then
// lse = m + log Σ e^(x−m) with float32 exponentials summed in float64, as
// eval/model's logSoftmaxStats. A target outside [0, vocab) gives NaN.
// Where best is not null, best[r] = the index of the row's first maximum,
// NaNs never winning (vocab−1 for a row of NaNs), for the greedy flags.
// Shared memory: a double and an int per thread.
GLOBAL void gm_log_probs(double *out, int *best, const float *logits, const int *targets, u64 vocab) {
  u32 tid = __nvvm_read_ptx_sreg_tid_x(), nt = __nvvm_read_ptx_sreg_ntid_x();
  u64 r = __nvvm_read_ptx_sreg_ctaid_x();
  const float *x = logits + r * vocab;
  double *red = (double *)SMEM;
  int *at = (int *)(red + nt);
  // Each thread's first maximum over its stride, then the block's: the
  // larger value, or the smaller index of equal ones (-1: none yet).
  float m = -__builtin_inff();
  int mi = -1;
  for (u64 i = tid; i < vocab; i += nt)
    if (x[i] > m || (mi < 0 && x[i] == m)) {
      m = x[i];
      mi = (int)i;
    }
  red[tid] = m;
  at[tid] = mi;
  __syncthreads();
  for (u32 s = nt / 2; s > 0; s >>= 1) {
    if (tid < s) {
      float m2 = (float)red[tid + s];
      int i2 = at[tid + s];
      if (i2 >= 0 && (at[tid] < 0 || m2 > (float)red[tid] || (m2 == (float)red[tid] && i2 < at[tid]))) {
        red[tid] = m2;
        at[tid] = i2;
      }
    }
    __syncthreads();
  }
  m = (float)red[0];
  mi = at[0];
  __syncthreads(); // red is reused below
  double sum = 0.0;
  for (u64 i = tid; i < vocab; i += nt) sum = sum + (double)gm_exp(x[i] - m);
  sum = block_reduce(red, sum, [](double a, double b) { return a + b; });
  if (tid == 0) {
    int t = targets[r];
    out[r] = t >= 0 && (u64)t < vocab ? (double)x[t] - ((double)m + gm_log(sum)) : __builtin_nan("");
    if (best) best[r] = mi >= 0 ? mi : (int)(vocab - 1);
  }
}

// gm_softcap: x[j] = cap·tanh(x[j]/cap), final logit soft-capping.
GLOBAL void gm_softcap(float *x, u64 n, float cap) {
  for (u64 j = gid(); j < n; j += gstride()) x[j] = cap * gm_tanh(x[j] / cap);
}

// Most output elements one thread of gm_attention holds: the host keeps
// bq·headDim ≤ ATTN_PER_THREAD·blockDim.
#define ATTN_PER_THREAD 16

// A thread's elements i = tid, tid+nt, … of a tile of rows of cols: row j
// and column c, stepped by (nt/cols, nt%cols) with a carry instead of a
// division per element (a 64-bit division is dozens of instructions).
struct tile_iter {
  u32 j, c, dj, dc, cols;
};
DEVICE tile_iter tile_start(u32 tid, u32 nt, u32 cols) { return tile_iter{tid / cols, tid % cols, nt / cols, nt % cols, cols}; }
DEVICE void tile_next(tile_iter &t) {
  t.j += t.dj;
  t.c += t.dc;
  if (t.c >= t.cols) {
    t.c -= t.cols;
    t.j++;
  }
}

// Most scores one thread of gm_attention computes on its one-key path:
// bq·bk ≤ 2048 = 8·256.
#define ATTN_SCORES_PER_THREAD 8

// attn_score is the score of query position p and key position key from
// their dot product: −∞ where the key is not visible (or not in the tile),
// else dot·scale, soft-capped when softcap ≠ 0.
DEVICE float attn_score(float dot, bool in, u64 p, u64 key, u64 window, float scale, float softcap) {
  if (!in || key > p || (window != 0 && key + window <= p)) return -__builtin_inff();
  float s = dot * scale;
  if (softcap != 0.0f) s = softcap * gm_tanh(s / softcap);
  return s;
}

// gm_attention: causal softmax attention of one sequence, one block per
// (head, tile of bq queries), with an online softmax over tiles of bk keys
// (running maximum and sum per query, FlashAttention's recurrence), so
// that no [tokens, tokens] scores reach global memory. q and out are
// [tokens, heads·hd]; k and v are the whole cache [past+tokens, kvHeads·hd]
// with the new tokens last; query i is at position past+i and sees the
// keys at positions max(0, p−window+1)..p (all up to p when window is 0);
// query head h reads kv head h/(heads/kvHeads). A score is
// float32(q·k)·scale, then softcap·tanh(score/softcap) when softcap ≠ 0.
//
// Shared memory (floats): the query tile [bq][hd], one key or value tile
// [bk][hd+1] (the padding spreads a column's reads over the banks), the
// scores [bq][bk], and each query's running max, sum and rescale factor.
// Each thread keeps its output elements tid + r·blockDim of the tile's
// [bq][hd] accumulator in registers. bq, bk and hd are at most 4096.
// Where blockDim is a multiple of bk (of hd), a thread's scores (output
// elements) share one key (one value column), which it then reads from
// shared memory once for all of them instead of once each; the
// arithmetic, and its order, is the same either way.
GLOBAL void gm_attention(float *out, const float *q, const float *k, const float *v, u64 tokens, u64 past, u64 heads,
                         u64 kvHeads, u64 hd64, float scale, u64 window, float softcap, u64 bq64, u64 bk64) {
  const float NEG_INF = -__builtin_inff();
  u32 tid = __nvvm_read_ptx_sreg_tid_x(), nt = __nvvm_read_ptx_sreg_ntid_x();
  u32 hd = (u32)hd64, bq = (u32)bq64, bk = (u32)bk64, ks = hd + 1;
  u64 tiles = (tokens + bq - 1) / bq, b = __nvvm_read_ptx_sreg_ctaid_x();
  u64 h = b % heads, tile = tiles - 1 - b / heads; // the longest rows first
  u64 q0 = tile * bq;
  u32 nq = tokens - q0 < bq ? (u32)(tokens - q0) : bq;
  u64 kh = h / (heads / kvHeads), qDim = heads * hd, kvDim = kvHeads * hd;
  const float *qb = q + q0 * qDim + h * hd, *kb = k + kh * hd, *vb = v + kh * hd;
  float *Qs = SMEM, *KV = Qs + bq * hd, *S = KV + bk * ks, *rm = S + bq * bk, *rl = rm + bq, *ra = rl + bq;

  for (tile_iter t = tile_start(tid, nt, hd); t.j < bq; tile_next(t))
    Qs[t.j * hd + t.c] = t.j < nq ? qb[t.j * qDim + t.c] : 0.0f;
  for (u32 i = tid; i < bq; i += nt) {
    rm[i] = NEG_INF;
    rl[i] = 0.0f;
  }
  float o[ATTN_PER_THREAD];
#pragma unroll
  for (int r = 0; r < ATTN_PER_THREAD; r++) o[r] = 0.0f;

  u64 first = past + q0, last = past + q0 + nq - 1; // positions of the tile's queries
  u64 klo = window != 0 && first + 1 > window ? first + 1 - window : 0;
  __syncthreads();
  for (u64 k0 = klo; k0 <= last; k0 += bk) {
    u32 nk = last + 1 - k0 < bk ? (u32)(last + 1 - k0) : bk;
    for (tile_iter t = tile_start(tid, nt, hd); t.j < bk; tile_next(t))
      KV[t.j * ks + t.c] = t.j < nk ? kb[(k0 + t.j) * kvDim + t.c] : 0.0f;
    __syncthreads();
    if (nt % bk == 0 && bq <= ATTN_SCORES_PER_THREAD * (nt / bk)) {
      // Every score of this thread is of the same key: read each of its
      // elements once for all of them (rows r0, r0+dr, …).
      u32 j = tid % bk, r0 = tid / bk, dr = nt / bk;
      const float *kr = KV + j * ks;
      float acc[ATTN_SCORES_PER_THREAD];
#pragma unroll
      for (int i = 0; i < ATTN_SCORES_PER_THREAD; i++) acc[i] = 0.0f;
      for (u32 c = 0; c < hd; c++) {
        float kc = kr[c];
#pragma unroll
        for (int i = 0; i < ATTN_SCORES_PER_THREAD; i++)
          if (r0 + i * dr < bq) acc[i] = acc[i] + Qs[(r0 + i * dr) * hd + c] * kc;
      }
#pragma unroll
      for (int i = 0; i < ATTN_SCORES_PER_THREAD; i++) {
        u32 r = r0 + i * dr;
        if (r < bq) S[r * bk + j] = attn_score(acc[i], r < nq && j < nk, first + r, k0 + j, window, scale, softcap);
      }
    } else {
      for (tile_iter t = tile_start(tid, nt, bk); t.j < bq; tile_next(t)) {
        u32 r = t.j, j = t.c;
        float acc = 0.0f;
        if (r < nq && j < nk) {
          const float *qr = Qs + r * hd, *kr = KV + j * ks;
          for (u32 c = 0; c < hd; c++) acc = acc + qr[c] * kr[c];
        }
        S[r * bk + j] = attn_score(acc, r < nq && j < nk, first + r, k0 + j, window, scale, softcap);
      }
    }
    __syncthreads();
    // One thread per query: the new running max and the factor that
    // rescales what was summed under the old one (e^(old−new), 0 while
    // the old is −∞, 1 while nothing is visible yet).
    for (u32 r = tid; r < bq; r += nt) {
      const float *sr = S + r * bk;
      float mo = rm[r], mx = mo;
      for (u32 j = 0; j < bk; j++) mx = sr[j] > mx ? sr[j] : mx;
      ra[r] = mx == NEG_INF ? 1.0f : gm_exp(mo - mx);
      rm[r] = mx;
    }
    // The scores are done with the keys: the values replace them.
    for (tile_iter t = tile_start(tid, nt, hd); t.j < bk; tile_next(t))
      KV[t.j * ks + t.c] = t.j < nk ? vb[(k0 + t.j) * kvDim + t.c] : 0.0f;
    __syncthreads();
    // The weights e^(s−max), all threads over all scores (−∞: 0).
    for (tile_iter t = tile_start(tid, nt, bk); t.j < bq; tile_next(t)) {
      float *e = S + t.j * bk + t.c;
      *e = *e == NEG_INF ? 0.0f : gm_exp(*e - rm[t.j]);
    }
    __syncthreads();
    // One thread per query: the running sum, in key order.
    for (u32 r = tid; r < bq; r += nt) {
      const float *sr = S + r * bk;
      float sum = 0.0f;
      for (u32 j = 0; j < bk; j++) sum = sum + sr[j];
      rl[r] = rl[r] * ra[r] + sum;
    }
    if (nt % hd == 0) {
      // Every output element of this thread is in column c (rows r0,
      // r0+dr, …, tile_iter's order): read each value once for all.
      u32 c = tid % hd, r0 = tid / hd, dr = nt / hd;
#pragma unroll
      for (int r = 0; r < ATTN_PER_THREAD; r++)
        if (r0 + r * dr < bq) o[r] = o[r] * ra[r0 + r * dr];
      for (u32 j = 0; j < nk; j++) {
        float vj = KV[j * ks + c];
#pragma unroll
        for (int r = 0; r < ATTN_PER_THREAD; r++)
          if (r0 + r * dr < bq) o[r] = o[r] + S[(r0 + r * dr) * bk + j] * vj;
      }
    } else {
      tile_iter t = tile_start(tid, nt, hd);
#pragma unroll
      for (int r = 0; r < ATTN_PER_THREAD; r++, tile_next(t)) {
        if (t.j < bq) {
          const float *pr = S + t.j * bk, *vc = KV + t.c;
          float acc = o[r] * ra[t.j];
          for (u32 j = 0; j < nk; j++) acc = acc + pr[j] * vc[j * ks];
          o[r] = acc;
        }
      }
    }
    __syncthreads(); // before the next tile overwrites KV, S and ra
  }
  float *ob = out + q0 * qDim + h * hd;
  tile_iter t = tile_start(tid, nt, hd);
#pragma unroll
  for (int r = 0; r < ATTN_PER_THREAD; r++, tile_next(t))
    if (t.j < nq) ob[t.j * qDim + t.c] = o[r] / rl[t.j];
}
