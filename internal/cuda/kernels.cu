// Merge kernels for gomerge's CUDA backend. Built without the CUDA toolkit:
// gen.sh compiles this file with clang alone (no cuda.h, no libdevice), so
// the few intrinsics used are declared here from clang's NVPTX builtins.
//
// Every kernel reproduces the CPU path of package tensor bit for bit:
// float32 operations are separately rounded (gen.sh passes
// -ffp-contract=off, so no multiply-add is fused), divisions are IEEE
// (div.rn.f32), denormals are kept (no .ftz), and the 16-bit roundings are
// the integer formulas of tensor.F32ToBF16 and tensor.F32ToF16. Only NaN
// payloads may differ: a GPU add or multiply of NaNs returns the canonical
// NaN where x86 returns the first operand's payload.
//
// Work dtype codes: 0 = float32 (also float64, carried in float32),
// 1 = bfloat16, 2 = float16.

#ifndef GM_HOST_EMULATION
#define GLOBAL extern "C" __attribute__((global))
#define DEVICE static __attribute__((device)) __attribute__((always_inline)) inline
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
