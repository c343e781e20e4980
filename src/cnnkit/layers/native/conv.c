/*
 * Direct 2-D convolutions for small channel counts, on float32 maps stored
 * batch-last: (channels, height, width, batch), the batch contiguous.
 *
 * Why: oneDNN reaches ~20% of a CPU's peak on LeNet-5's convolutions (1 or 6
 * input channels), because there is too little work per pixel to fill its
 * vectors.  With the batch innermost, every multiply-add is one weight times
 * 8 images at once, whatever the channel count.  Each task copies one slice
 * of 8 images into a small zero-padded block (so the inner loops have no
 * bounds checks and read memory sequentially, instead of 8 floats out of
 * every batch-wide stride, which would crowd a few cache sets) and keeps a
 * block of outputs in registers.  The compiler vectorises with whatever SIMD
 * it has (GCC/Clang vector extensions, no intrinsics).
 *
 * Tasks run in parallel with OpenMP when the compiler has it.  Sums run in a
 * fixed order, so results do not depend on the number of threads; they
 * differ from oneDNN's by float rounding only.  The batch must be a multiple of 8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 8
typedef float vec __attribute__((vector_size(LANES * sizeof(float)), aligned(sizeof(float))));
#define INLINE static inline __attribute__((always_inline))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* A per-thread scratch area that only grows (a few hundred KB for LeNet-sized maps). */
static float *scratch(int64_t floats)
{
    static __thread float *buf;
    static __thread int64_t cap;
    if (floats > cap) {
        free(buf);
        buf = malloc(sizeof(float) * floats);
        cap = buf ? floats : 0;
    }
    return buf;
}

/* Images q..q+7 of a batch-last (c, h, w, n) map, as a (c, h + 2p, w + 2p, 8) block with zeros around. */
static void pack(const float *restrict x, float *restrict blk, int64_t n, int64_t q, int64_t c, int64_t h,
                 int64_t wd, int64_t p)
{
    const int64_t hp = h + 2 * p, wp = wd + 2 * p;
    if (p > 0)
        memset(blk, 0, sizeof(float) * c * hp * wp * LANES);
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t r = 0; r < h; r++) {
            const float *src = x + (ci * h + r) * wd * n + q;
            float *dst = blk + ((ci * hp + r + p) * wp + p) * LANES;
            for (int64_t col = 0; col < wd; col++)
                *(vec *)(dst + col * LANES) = *(const vec *)(src + col * n);
        }
}

/*
 * Outputs ox0..ox0+PX-1 of row oy, channels k0..k0+KB-1, for the 8 images in blk:
 * y[k][oy][ox][q:q+8] = b[k] + sum over ci, i, j of w[k][ci][i][j] * blk[ci][oy*s + i][ox*s + j][:].
 * KB and PX are constants at every call, so the KB x PX accumulators live in registers.
 * Taps that read only the zero border (rows and columns outside the h x wd
 * input) are skipped: a large part of the work when the input gradient is
 * computed as a fully padded correlation.
 */
INLINE void forward_block(const int KB, const int PX, const float *restrict blk, const float *restrict w,
                          const float *restrict b, float *restrict y, int64_t n, int64_t q, int64_t c, int64_t h,
                          int64_t wd, int64_t p, int64_t f, int64_t s, int64_t ho, int64_t wo, int64_t k0, int64_t oy,
                          int64_t ox0)
{
    const int64_t hp = h + 2 * p, wp = wd + 2 * p;
    const int64_t i0 = MAX(0, p - oy * s), i1 = MIN(f, h + p - oy * s);
    const int64_t j0 = MAX(0, p - (ox0 + PX - 1) * s), j1 = MIN(f, wd + p - ox0 * s);
    vec acc[8][8]; /* KB x PX used: fixed bounds, so the block can be kept in registers */
    for (int kk = 0; kk < KB; kk++)
        for (int px = 0; px < PX; px++)
            acc[kk][px] = (vec){0} + (b ? b[k0 + kk] : 0.0f);
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t i = i0; i < i1; i++) {
            const float *row = blk + ((ci * hp + oy * s + i) * wp + ox0 * s) * LANES;
            const float *wr = w + ((k0 * c + ci) * f + i) * f;
            for (int64_t j = j0; j < j1; j++) {
                vec xv[8];
                for (int px = 0; px < PX; px++)
                    xv[px] = *(const vec *)(row + (px * s + j) * LANES);
                for (int kk = 0; kk < KB; kk++) {
                    const float t = wr[kk * c * f * f + j];
                    for (int px = 0; px < PX; px++)
                        acc[kk][px] += t * xv[px];
                }
            }
        }
    for (int kk = 0; kk < KB; kk++)
        for (int px = 0; px < PX; px++)
            *(vec *)(y + (((k0 + kk) * ho + oy) * wo + ox0 + px) * n + q) = acc[kk][px];
}

/* All outputs of one 8-image slice: full PX-wide blocks, then single columns. */
INLINE void forward_slice(const int KB, const int PX, const float *blk, const float *w, const float *b, float *y,
                          int64_t n, int64_t q, int64_t c, int64_t h, int64_t wd, int64_t p, int64_t k, int64_t f,
                          int64_t s, int64_t ho, int64_t wo)
{
    for (int64_t k0 = 0; k0 < k; k0 += KB)
        for (int64_t oy = 0; oy < ho; oy++) {
            int64_t ox = 0;
            for (; ox + PX <= wo; ox += PX)
                forward_block(KB, PX, blk, w, b, y, n, q, c, h, wd, p, f, s, ho, wo, k0, oy, ox);
            for (; ox < wo; ox++)
                forward_block(KB, 1, blk, w, b, y, n, q, c, h, wd, p, f, s, ho, wo, k0, oy, ox);
        }
}

/*
 * Weight gradient of one slice: part[k][ci][i][j] = sum over oy, ox and the 8 images of
 * g[k][oy][ox][:] * x[ci][oy*s + i - p][ox*s + j - p][:], for F x F filters (F constant).
 */
INLINE void weight_grad_slice(const int KB, const int F, const float *restrict xb, const float *restrict gb,
                              float *restrict part, int64_t c, int64_t hp, int64_t wp, int64_t k, int64_t s,
                              int64_t ho, int64_t wo)
{
    for (int64_t k0 = 0; k0 < k; k0 += KB)
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t i = 0; i < F; i++) {
                vec acc[4][8]; /* KB x F used */
                for (int kk = 0; kk < KB; kk++)
                    for (int j = 0; j < F; j++)
                        acc[kk][j] = (vec){0};
                for (int64_t oy = 0; oy < ho; oy++) {
                    const float *xr = xb + (ci * hp + oy * s + i) * wp * LANES;
                    const float *gr = gb + (k0 * ho + oy) * wo * LANES;
                    for (int64_t ox = 0; ox < wo; ox++) {
                        vec gv[4];
                        for (int kk = 0; kk < KB; kk++)
                            gv[kk] = *(const vec *)(gr + (kk * ho * wo + ox) * LANES);
                        for (int j = 0; j < F; j++) {
                            const vec xv = *(const vec *)(xr + (ox * s + j) * LANES);
                            for (int kk = 0; kk < KB; kk++)
                                acc[kk][j] += gv[kk] * xv;
                        }
                    }
                }
                for (int kk = 0; kk < KB; kk++)
                    for (int j = 0; j < F; j++) {
                        float t = 0.0f;
                        for (int l = 0; l < LANES; l++)
                            t += acc[kk][j][l];
                        part[(((k0 + kk) * c + ci) * F + i) * F + j] = t;
                    }
            }
}

/* One instance per register block; the OpenMP pragma sits here, where the block sizes are constants. */
#define FORWARD(KB, PX)                                                                                       \
    static int forward_##KB##_##PX(const float *x, const float *w, const float *b, float *y, int64_t n,       \
                                   int64_t c, int64_t h, int64_t wd, int64_t k, int64_t f, int64_t s,         \
                                   int64_t p, int64_t ho, int64_t wo)                                         \
    {                                                                                                         \
        const int64_t hp = h + 2 * p, wp = wd + 2 * p;                                                        \
        int failed = 0;                                                                                       \
        _Pragma("omp parallel for schedule(static) reduction(|: failed)")                                     \
        for (int64_t q = 0; q < n; q += LANES) {                                                              \
            float *blk = scratch(c * hp * wp * LANES);                                                        \
            if (!blk) {                                                                                       \
                failed = 1;                                                                                   \
                continue;                                                                                     \
            }                                                                                                 \
            pack(x, blk, n, q, c, h, wd, p);                                                                  \
            if (s == 1) /* a constant stride lets the compiler slide a window of inputs through registers */ \
                forward_slice(KB, PX, blk, w, b, y, n, q, c, h, wd, p, k, f, 1, ho, wo);                        \
            else                                                                                              \
                forward_slice(KB, PX, blk, w, b, y, n, q, c, h, wd, p, k, f, s, ho, wo);                        \
        }                                                                                                     \
        return failed ? -2 : 0;                                                                               \
    }
FORWARD(1, 8) FORWARD(2, 5) FORWARD(3, 3) FORWARD(4, 2) FORWARD(6, 2)

#define WGRAD(KB, F)                                                                                          \
    static int wgrad_##KB##_##F(const float *x, const float *g, float *part, int64_t n, int64_t c, int64_t h,  \
                                int64_t wd, int64_t k, int64_t s, int64_t p, int64_t ho, int64_t wo)         \
    {                                                                                                         \
        const int64_t hp = h + 2 * p, wp = wd + 2 * p, xs = c * hp * wp * LANES;                              \
        int failed = 0;                                                                                       \
        _Pragma("omp parallel for schedule(static) reduction(|: failed)")                                     \
        for (int64_t q = 0; q < n; q += LANES) {                                                              \
            float *xb = scratch(xs + k * ho * wo * LANES), *gb = xb + xs;                                     \
            if (!xb) {                                                                                        \
                failed = 1;                                                                                   \
                continue;                                                                                     \
            }                                                                                                 \
            pack(x, xb, n, q, c, h, wd, p);                                                                   \
            pack(g, gb, n, q, k, ho, wo, 0);                                                                  \
            float *out = part + (q / LANES) * k * c * (F) * (F);                                              \
            if (s == 1)                                                                                       \
                weight_grad_slice(KB, F, xb, gb, out, c, hp, wp, k, 1, ho, wo);                               \
            else                                                                                              \
                weight_grad_slice(KB, F, xb, gb, out, c, hp, wp, k, s, ho, wo);                               \
        }                                                                                                     \
        return failed ? -2 : 0;                                                                               \
    }
#define WGRAD_F(KB) WGRAD(KB, 1) WGRAD(KB, 2) WGRAD(KB, 3) WGRAD(KB, 4) WGRAD(KB, 5) WGRAD(KB, 6) WGRAD(KB, 7)
WGRAD_F(1) WGRAD_F(2) WGRAD_F(4)

/* The largest channel block among `blocks` that divides k. */
static int channel_block(int64_t k, const int *blocks, int count)
{
    for (int t = 0; t < count; t++)
        if (k % blocks[t] == 0)
            return blocks[t];
    return 1;
}

/* 0 on success, -1 for shapes it does not handle (the caller then uses PyTorch's operator), -2 out of memory. */
int cnnkit_conv_forward(const float *x, const float *w, const float *b, float *y, int64_t n, int64_t c, int64_t h,
                        int64_t wd, int64_t k, int64_t f, int64_t s, int64_t p, int64_t ho, int64_t wo)
{
    static const int blocks[] = {6, 4, 3, 2};
    if (n % LANES || n <= 0 || ho <= 0 || wo <= 0 || (ho - 1) * s + f > h + 2 * p || (wo - 1) * s + f > wd + 2 * p)
        return -1;
    /* Measured best on LeNet-5's maps (AVX2): 6x2 and 4x2 blocks; wider ones spill inputs to memory. */
    switch (channel_block(k, blocks, 4)) {
    case 6: return forward_6_2(x, w, b, y, n, c, h, wd, k, f, s, p, ho, wo);
    case 4: return forward_4_2(x, w, b, y, n, c, h, wd, k, f, s, p, ho, wo);
    case 3: return forward_3_3(x, w, b, y, n, c, h, wd, k, f, s, p, ho, wo);
    case 2: return forward_2_5(x, w, b, y, n, c, h, wd, k, f, s, p, ho, wo);
    default: return forward_1_8(x, w, b, y, n, c, h, wd, k, f, s, p, ho, wo);
    }
}

/* part needs (n / 8) * k * c * f * f floats of scratch; dw gets k * c * f * f, summed in slice order. */
int cnnkit_conv_weight_grad(const float *x, const float *g, float *dw, float *part, int64_t n, int64_t c, int64_t h,
                            int64_t wd, int64_t k, int64_t f, int64_t s, int64_t p, int64_t ho, int64_t wo)
{
    static const int blocks[] = {4, 2};
    if (n % LANES || n <= 0 || f < 1 || f > 7 || (ho - 1) * s + f > h + 2 * p || (wo - 1) * s + f > wd + 2 * p)
        return -1;
    const int kb = f <= 3 ? channel_block(k, blocks, 2) : f <= 6 ? channel_block(k, blocks + 1, 1) : 1;
#define CALL_WGRAD(KB, F)                                                 \
    if (kb == KB && f == F && wgrad_##KB##_##F(x, g, part, n, c, h, wd, k, s, p, ho, wo))              \
        return -2;
#define CALL_WGRAD_F(KB) CALL_WGRAD(KB, 1) CALL_WGRAD(KB, 2) CALL_WGRAD(KB, 3) CALL_WGRAD(KB, 4) CALL_WGRAD(KB, 5) \
    CALL_WGRAD(KB, 6) CALL_WGRAD(KB, 7)
    CALL_WGRAD_F(1) CALL_WGRAD_F(2) CALL_WGRAD_F(4)
    const int64_t size = k * c * f * f, slices = n / LANES;
    for (int64_t e = 0; e < size; e++) {
        float t = 0.0f;
        for (int64_t slice = 0; slice < slices; slice++)
            t += part[slice * size + e];
        dw[e] = t;
    }
    return 0;
}

/* 1 if the kernels were compiled with OpenMP (they then use PyTorch's threads), else 0. */
int cnnkit_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
