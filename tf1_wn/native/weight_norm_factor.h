// The per-channel factor of weight normalization, shared by the kernel-
// scaling op (weight_norm_op.cc) and the output-scaling ops
// (scaled_product_op.cc):
//
//   inverse = 1 / sqrt(sum(v^2) + eps);  factor = gain * inverse
#ifndef TF1_WN_NATIVE_WEIGHT_NORM_FACTOR_H_
#define TF1_WN_NATIVE_WEIGHT_NORM_FACTOR_H_

#include "channel_loops.h"

namespace tf1_wn {

// inverse[c] and factor[c] for channels [c0, c1) from the sums of squares.
template <typename T>
TF1_WN_INLINE void FactorsFromSums(int64_t c0, int64_t c1,
                                   const double* sums, const T* gain,
                                   double eps, T* inverse, T* factor) {
  for (int64_t c = c0; c < c1; ++c) {
    const double channel_inverse = 1.0 / std::sqrt(sums[c] + eps);
    inverse[c] = static_cast<T>(channel_inverse);
    factor[c] = static_cast<T>(static_cast<double>(gain[c]) *
                               channel_inverse);
  }
}

// Adds sum(v^2) over rows [a0, a1) into sums[c] for every channel.
// `partial` is [channels] scratch of T.
template <typename T>
TF1_WN_INLINE void AddSquaredRowSums(const Geometry& g, int64_t a0,
                                     int64_t a1, const T* v, T* partial,
                                     double* sums) {
  auto unused = [](int64_t, int64_t) { return T(0); };
  AddRowSums<1>(g, a0, a1, 0, g.channels,
                [v](int64_t i, int64_t) { return v[i] * v[i]; }, unused,
                partial, sums, sums);
}

// For channels [c0, c1): `partial` is [channels] scratch of T, `sums`
// [channels] of double; writes inverse[c] and factor[c].
template <typename T>
TF1_WN_INLINE void WeightNormFactors(const Geometry& g, int64_t c0,
                                     int64_t c1, const T* v, const T* gain,
                                     double eps, T* partial, double* sums,
                                     T* inverse, T* factor) {
  auto unused = [](int64_t, int64_t) { return T(0); };
  SumOverRows<1>(g, c0, c1, [v](int64_t i, int64_t) { return v[i] * v[i]; },
                 unused, partial, sums, sums);
  FactorsFromSums(c0, c1, sums, gain, eps, inverse, factor);
}

}  // namespace tf1_wn

#endif  // TF1_WN_NATIVE_WEIGHT_NORM_FACTOR_H_
