/*
 * 2x2 max pooling with stride 2 on float32 images stored (n, h, w, c): the
 * channels-last layout, or NCHW read as n*c images of one channel.
 *
 * Why C: ATen's channels-last max pooling runs a scalar loop when there are
 * fewer than 8 channels (LeNet-5's 6 maps), and its backward zero-fills the
 * gradient in a separate pass.  Specialising the channel count lets the
 * compiler vectorise across windows.
 *
 * Semantics match torch.nn.functional.max_pool2d exactly: in each window the
 * first maximum in row-major order wins, and a NaN wins over any number (the
 * last NaN, as in ATen).  `arg` keeps the winner's position in its window
 * (0..3, row-major) for the backward pass, which writes every element of the
 * input gradient (zero where a value did not win).  h and w must be even.
 * Rows of windows are split among threads (OpenMP) when the map is large.
 *
 * A batch-last map (c, h, w, n), as cnnkit's native convolutions write it, is
 * the (n, h, w, c) case with the roles of n and c swapped.
 */
#include <stdint.h>
#include <string.h>

#define FORWARD_BODY(C)                                                                       \
    const int64_t ho = h / 2, wo = w / 2, work = n * h * w * (C);                             \
    _Pragma("omp parallel for schedule(static) if (work > 65536)")                            \
    for (int64_t row = 0; row < n * ho; row++) {                                              \
        const float *restrict r0 = x + row * 2 * w * (C), *restrict r1 = r0 + w * (C);        \
        float *restrict o = out + row * wo * (C);                                             \
        uint8_t *restrict a = arg + row * wo * (C);                                           \
        for (int64_t q = 0; q < wo; q++)                                                      \
            for (int64_t ch = 0; ch < (C); ch++) {                                            \
                const float v1 = r0[(2 * q + 1) * (C) + ch];                                  \
                const float v2 = r1[(2 * q) * (C) + ch], v3 = r1[(2 * q + 1) * (C) + ch];     \
                float m = r0[(2 * q) * (C) + ch];                                             \
                uint8_t t = 0;                                                                \
                int take = (v1 > m) | (v1 != v1);                                             \
                m = take ? v1 : m; t = take ? 1 : t;                                          \
                take = (v2 > m) | (v2 != v2);                                                 \
                m = take ? v2 : m; t = take ? 2 : t;                                          \
                take = (v3 > m) | (v3 != v3);                                                 \
                m = take ? v3 : m; t = take ? 3 : t;                                          \
                o[q * (C) + ch] = m;                                                          \
                a[q * (C) + ch] = t;                                                          \
            }                                                                                 \
    }

/* Zero both input rows of a window row, then scatter each gradient to its winner. */
#define BACKWARD_BODY(C)                                                                      \
    const int64_t ho = h / 2, wo = w / 2, work = n * h * w * (C);                             \
    _Pragma("omp parallel for schedule(static) if (work > 65536)")                            \
    for (int64_t row = 0; row < n * ho; row++) {                                              \
        float *restrict d = gi + row * 2 * w * (C);                                           \
        const float *restrict gr = g + row * wo * (C);                                        \
        const uint8_t *restrict a = arg + row * wo * (C);                                     \
        memset(d, 0, sizeof(float) * 2 * w * (C));                                            \
        for (int64_t q = 0; q < wo; q++)                                                      \
            for (int64_t ch = 0; ch < (C); ch++) {                                            \
                const uint8_t t = a[q * (C) + ch];                                            \
                d[(t >> 1) * w * (C) + (2 * q + (t & 1)) * (C) + ch] = gr[q * (C) + ch];      \
            }                                                                                 \
    }

/*
 * The same for a multiple of 8 channels (a batch-last map's batch): each
 * input gradient is its window's gradient where it won, else zero, 8 lanes
 * at a time with masks, every element written once.
 */
typedef float vec8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t ivec8 __attribute__((vector_size(32), aligned(4)));
typedef uint8_t bytes8 __attribute__((vector_size(8), aligned(1)));

static void backward_lanes(const float *restrict g, const uint8_t *restrict arg, float *restrict gi, int64_t n,
                           int64_t h, int64_t w, int64_t c)
{
    const int64_t ho = h / 2, wo = w / 2, work = n * h * w * c;
#pragma omp parallel for schedule(static) if (work > 65536)
    for (int64_t row = 0; row < n * ho; row++) {
        float *restrict d0 = gi + row * 2 * w * c, *restrict d1 = d0 + w * c;
        const float *restrict gr = g + row * wo * c;
        const uint8_t *restrict a = arg + row * wo * c;
        for (int64_t q = 0; q < wo; q++)
            for (int64_t ch = 0; ch < c; ch += 8) {
                const ivec8 t = __builtin_convertvector(*(const bytes8 *)(a + q * c + ch), ivec8);
                const ivec8 v = (ivec8)*(const vec8 *)(gr + q * c + ch);
                *(vec8 *)(d0 + 2 * q * c + ch) = (vec8)(v & (t == 0));
                *(vec8 *)(d0 + (2 * q + 1) * c + ch) = (vec8)(v & (t == 1));
                *(vec8 *)(d1 + 2 * q * c + ch) = (vec8)(v & (t == 2));
                *(vec8 *)(d1 + (2 * q + 1) * c + ch) = (vec8)(v & (t == 3));
            }
    }
}

#define SPECIALISE(C)                                                                                      \
    static void forward_##C(const float *restrict x, float *restrict out, uint8_t *restrict arg, int64_t n,  \
                            int64_t h, int64_t w) { FORWARD_BODY(C) }                                      \
    static void backward_##C(const float *restrict g, const uint8_t *restrict arg, float *restrict gi,      \
                             int64_t n, int64_t h, int64_t w) { BACKWARD_BODY(C) }

SPECIALISE(1) SPECIALISE(2) SPECIALISE(3) SPECIALISE(4) SPECIALISE(6) SPECIALISE(8) SPECIALISE(12) SPECIALISE(16)

static void forward_any(const float *restrict x, float *restrict out, uint8_t *restrict arg, int64_t n, int64_t h,
                        int64_t w, int64_t c) { FORWARD_BODY(c) }
static void backward_any(const float *restrict g, const uint8_t *restrict arg, float *restrict gi, int64_t n,
                         int64_t h, int64_t w, int64_t c) { BACKWARD_BODY(c) }

#define DISPATCH(F, ...)                                                   \
    switch (c) {                                                           \
    case 1: F##_1(__VA_ARGS__); break;                                     \
    case 2: F##_2(__VA_ARGS__); break;                                     \
    case 3: F##_3(__VA_ARGS__); break;                                     \
    case 4: F##_4(__VA_ARGS__); break;                                     \
    case 6: F##_6(__VA_ARGS__); break;                                     \
    case 8: F##_8(__VA_ARGS__); break;                                     \
    case 12: F##_12(__VA_ARGS__); break;                                   \
    case 16: F##_16(__VA_ARGS__); break;                                   \
    default: F##_any(__VA_ARGS__, c);                                      \
    }

void cnnkit_maxpool2_forward(const float *x, float *out, uint8_t *arg, int64_t n, int64_t h, int64_t w, int64_t c)
{
    DISPATCH(forward, x, out, arg, n, h, w)
}

void cnnkit_maxpool2_backward(const float *g, const uint8_t *arg, float *gi, int64_t n, int64_t h, int64_t w,
                              int64_t c)
{
    if (c > 16 && c % 8 == 0) {
        backward_lanes(g, arg, gi, n, h, w, c);
        return;
    }
    DISPATCH(backward, g, arg, gi, n, h, w)
}
