// The per-channel factor of weight normalization, shared by the kernel-
// scaling op (weight_norm_op.cc) and the output-scaling ops
// (scaled_product_op.cc):
//
//   inverse = 1 / sqrt(sum(v^2) + eps);  factor = gain * inverse
#ifndef TF1_WN_NATIVE_WEIGHT_NORM_FACTOR_H_
#define TF1_WN_NATIVE_WEIGHT_NORM_FACTOR_H_

#include "channel_loops.h"

namespace tf1_wn {

// inverse[c] and factor[c] for every channel from the sums of squares.
template <typename T>
TF1_WN_INLINE void FactorsFromSums(int64_t channels,
                                   const double* sums, const T* gain,
                                   double eps, T* inverse, T* factor) {
  for (int64_t c = 0; c < channels; ++c) {
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
  AddRowSums<1>(g, a0, a1, [v](int64_t i, int64_t) { return v[i] * v[i]; },
                unused, partial, sums, sums);
}

}  // namespace tf1_wn

#endif  // TF1_WN_NATIVE_WEIGHT_NORM_FACTOR_H_
