// Per-channel loops over a kernel, shared by the native ops of tf1-wn.
//
// A kernel's channel axes are [channels_begin, channels_end), adjacent in
// every layer's kernel (conv: the last; transposed conv: axis 2;
// depthwise: the last two), so in memory the kernel is an
// [outer, channels, inner] array; per-channel statistics run over outer
// and inner.  Sums accumulate in double.
#ifndef TF1_WN_NATIVE_CHANNEL_LOOPS_H_
#define TF1_WN_NATIVE_CHANNEL_LOOPS_H_

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

namespace tf1_wn {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Status;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;

// Shape function helper: `stats` is the vector of the channel count.
inline Status ChannelShape(InferenceContext* c, ShapeHandle* stats) {
  int begin, end;
  TF_RETURN_IF_ERROR(c->GetAttr("channels_begin", &begin));
  TF_RETURN_IF_ERROR(c->GetAttr("channels_end", &end));
  ShapeHandle kernel = c->input(0);
  if (!c->RankKnown(kernel)) {
    *stats = c->Vector(InferenceContext::kUnknownDim);
    return ::tensorflow::OkStatus();
  }
  ShapeHandle channel_dims;
  TF_RETURN_IF_ERROR(c->Subshape(kernel, begin, end, &channel_dims));
  ::tensorflow::shape_inference::DimensionHandle channels = c->MakeDim(1);
  for (int i = 0; i < c->Rank(channel_dims); ++i) {
    TF_RETURN_IF_ERROR(
        c->Multiply(channels, c->Dim(channel_dims, i), &channels));
  }
  *stats = c->Vector(channels);
  return ::tensorflow::OkStatus();
}

struct Geometry {
  int64_t outer, channels, inner;
  int64_t count() const { return outer * inner; }
  int64_t size() const { return outer * channels * inner; }
};

inline Status CheckKernel(const Tensor& kernel, const Tensor& gain, int begin,
                   int end, Geometry* g) {
  if (begin >= end || end > kernel.dims()) {
    return ::tensorflow::errors::InvalidArgument(
        "channel axes [", begin, ", ", end, ") do not fit kernel shape ",
        kernel.shape().DebugString());
  }
  g->outer = g->channels = g->inner = 1;
  for (int axis = 0; axis < kernel.dims(); ++axis) {
    int64_t& part = axis < begin ? g->outer : axis < end ? g->channels
                                                         : g->inner;
    part *= kernel.dim_size(axis);
  }
  if (gain.dims() != 1 || gain.dim_size(0) != g->channels) {
    return ::tensorflow::errors::InvalidArgument(
        "gain must have shape [", g->channels, "], got ",
        gain.shape().DebugString());
  }
  if (g->count() < 1) {
    return ::tensorflow::errors::InvalidArgument(
        "kernel has no entries per channel: ", kernel.shape().DebugString());
  }
  return ::tensorflow::OkStatus();
}

// Kernels below this many entries run on the calling thread: handing a
// 3x3x64x64 kernel to the intra-op pool costs more than it saves when the
// pool is busy with the convolutions.
constexpr int64_t kParallelEntries = 1 << 20;

// The loops are written for the vectorizer: channels innermost when
// inner == 1 (every conv kernel), else an `omp simd` loop over inner.  On
// x86-64 with GCC they are compiled for AVX-512, AVX2 and the baseline,
// picked at load time; elsewhere for the baseline of the target.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(TF1_WN_NO_TARGET_CLONES)
#define TF1_WN_CLONES \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TF1_WN_CLONES
#endif
#define TF1_WN_INLINE inline __attribute__((always_inline))

// Partial sums run in T over blocks of this many rows (full vector width,
// no conversions), then are added into double accumulators.
constexpr int64_t kRowBlock = 16;

// For kTerms sums: adds the sum over rows [a0, a1) of outer, and over
// inner, of term_k(i, c) into sums[k][c] for every channel c, where i is
// the flat index of the entry.  `partial` is [kTerms * channels] scratch.
// For each entry `first` is called before `second`, so `second` may write
// over what `first` reads (Tf1WnScaleColumnsGrad relies on this).
template <int kTerms, typename T, typename First, typename Second>
TF1_WN_INLINE void AddRowSums(const Geometry& g, int64_t a0, int64_t a1,
                              First first, Second second, T* partial,
                              double* first_sums, double* second_sums) {
  const int64_t channels = g.channels;
  T* first_partial = partial;
  T* second_partial = partial + g.channels;
  if (g.inner == 1) {
    for (int64_t b0 = a0; b0 < a1; b0 += kRowBlock) {
      const int64_t b1 = std::min(b0 + kRowBlock, a1);
      for (int64_t c = 0; c < channels; ++c) {
        first_partial[c] = T(0);
        if (kTerms == 2) second_partial[c] = T(0);
      }
      for (int64_t a = b0; a < b1; ++a) {
        const int64_t row = a * g.channels;
#pragma omp simd
        for (int64_t c = 0; c < channels; ++c) {
          first_partial[c] += first(row + c, c);
          if (kTerms == 2) second_partial[c] += second(row + c, c);
        }
      }
      for (int64_t c = 0; c < channels; ++c) {
        first_sums[c] += first_partial[c];
        if (kTerms == 2) second_sums[c] += second_partial[c];
      }
    }
    return;
  }
  for (int64_t a = a0; a < a1; ++a) {
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t base = (a * g.channels + c) * g.inner;
      T first_acc = T(0), second_acc = T(0);
#pragma omp simd reduction(+ : first_acc, second_acc)
      for (int64_t b = 0; b < g.inner; ++b) {
        first_acc += first(base + b, c);
        if (kTerms == 2) second_acc += second(base + b, c);
      }
      first_sums[c] += first_acc;
      if (kTerms == 2) second_sums[c] += second_acc;
    }
  }
}

// Large kernels and outputs are split into contiguous ranges of rows, one
// per intra-op thread, so each worker streams one range.  (Split by
// channels instead, each worker read a short run of every row: with 1024
// float channels and two threads, half of each 4 KiB row, a new page for
// every row, which the prefetchers do not follow; on this project's
// 2-core test machine Tf1WnNormFactor on a 1024x1024 kernel took longer on
// two threads than on one.)  A two-pass op runs each pass so, adding up
// the first pass's per-shard sums in between.
//
// Shard boundaries fall at multiples of this many rows: kRowBlock where the
// partial sums run over blocks of rows (inner == 1), so every block is the
// same whatever the number of shards and only the order of the double
// additions of whole blocks changes; else any row.
inline int64_t RowGrain(const Geometry& g) {
  return g.inner == 1 ? kRowBlock : 1;
}

// Returns the number of row shards for `g`: one below kParallelEntries,
// else one per intra-op thread, at most one per RowGrain rows.
inline int64_t RowShardCount(OpKernelContext* context, const Geometry& g) {
  if (g.size() < kParallelEntries) return 1;
  const int64_t threads =
      context->device()->tensorflow_cpu_worker_threads()->num_threads;
  const int64_t grains = (g.outer + RowGrain(g) - 1) / RowGrain(g);
  return std::max<int64_t>(1, std::min(threads, grains));
}

// Runs `work(shard, first_row, last_row)` for each of `shards` ranges of
// rows, in parallel when there are several.
template <typename Work>
void ForRowShards(OpKernelContext* context, const Geometry& g,
                  int64_t shards, Work work) {
  const int64_t grain = RowGrain(g);
  const int64_t grains = (g.outer + grain - 1) / grain;
  auto first_row = [&](int64_t shard) {
    return std::min(g.outer, grains * shard / shards * grain);
  };
  if (shards == 1) {
    work(0, 0, g.outer);
    return;
  }
  auto* workers = context->device()->tensorflow_cpu_worker_threads();
  // A cost far above the sharder's threshold: one shard per task.
  const int64_t cost_per_shard = g.size() / shards * 8;
  ::tensorflow::Shard(shards, workers->workers, shards, cost_per_shard,
                      [&](int64_t s0, int64_t s1) {
                        for (int64_t s = s0; s < s1; ++s) {
                          work(s, first_row(s), first_row(s + 1));
                        }
                      });
}

// A summing pass over `shards` row ranges: `pass(first_row, last_row,
// partial, sums)` adds its rows' terms into `sums`, kTerms rows of
// [channels] doubles per shard (one per sum), with `partial` as many rows
// of T scratch.  Returns the kTerms rows of per-channel totals, the shards
// added in order.
template <typename T, int kTerms = 1, typename Pass>
std::vector<double> SumRowShards(OpKernelContext* context, const Geometry& g,
                                 int64_t shards, Pass pass) {
  const int64_t width = kTerms * g.channels;
  std::vector<double> sums(shards * width, 0.0);
  std::vector<T> partial(shards * width);
  ForRowShards(context, g, shards,
               [&](int64_t shard, int64_t a0, int64_t a1) {
                 pass(a0, a1, partial.data() + shard * width,
                      sums.data() + shard * width);
               });
  for (int64_t shard = 1; shard < shards; ++shard) {
    for (int64_t k = 0; k < width; ++k) sums[k] += sums[shard * width + k];
  }
  sums.resize(width);
  return sums;
}

// Calls write(i, c) for every entry of rows [a0, a1), c its channel.
template <typename Write>
TF1_WN_INLINE void ForEachEntryOfRows(const Geometry& g, int64_t a0,
                                      int64_t a1, Write write) {
  const int64_t channels = g.channels;
  for (int64_t a = a0; a < a1; ++a) {
    if (g.inner == 1) {
      const int64_t row = a * g.channels;
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) write(row + c, c);
      continue;
    }
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t base = (a * g.channels + c) * g.inner;
#pragma omp simd
      for (int64_t b = 0; b < g.inner; ++b) write(base + b, c);
    }
  }
}

// Reads the channel axes; checks kernel and gain against them.
class ChannelOpBase : public OpKernel {
 public:
  explicit ChannelOpBase(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context,
                   context->GetAttr("channels_begin", &channels_begin_));
    OP_REQUIRES_OK(context, context->GetAttr("channels_end", &channels_end_));
  }

 protected:
  Status CheckKernelAndGain(const Tensor& kernel, const Tensor& gain,
                            Geometry* g) const {
    return CheckKernel(kernel, gain, channels_begin_, channels_end_, g);
  }

  // The eps input, a scalar tensor of type T: a float attr would round a
  // float64 model's eps to float32.
  template <typename T>
  static Status ReadEps(const Tensor& eps, double* value) {
    if (eps.dims() != 0) {
      return ::tensorflow::errors::InvalidArgument(
          "eps must be a scalar, got shape ", eps.shape().DebugString());
    }
    *value = static_cast<double>(eps.scalar<T>()());
    return ::tensorflow::OkStatus();
  }

  // For a gradient op: input 0 is the upstream gradient (the kernel's
  // shape), inputs from `first_statistic` on are per-channel vectors.
  static Status CheckGradientInputs(OpKernelContext* context,
                                    const Tensor& kernel, const Geometry& g,
                                    int first_statistic) {
    const Tensor& grad = context->input(0);
    if (grad.shape() != kernel.shape()) {
      return ::tensorflow::errors::InvalidArgument(
          "grad shape ", grad.shape().DebugString(),
          " differs from kernel shape ", kernel.shape().DebugString());
    }
    for (int i = first_statistic; i < context->num_inputs(); ++i) {
      if (context->input(i).NumElements() != g.channels) {
        return ::tensorflow::errors::InvalidArgument(
            "statistics input ", i, " must have ", g.channels, " entries");
      }
    }
    return ::tensorflow::OkStatus();
  }

  // The kernel's gradient reuses the upstream gradient's buffer when
  // nothing else holds it: every entry of grad is read before the same
  // entry of the result is written.
  static Status AllocateGradients(OpKernelContext* context,
                                  const Tensor& kernel, const Tensor& gain,
                                  Tensor** kernel_grad, Tensor** gain_grad) {
    TF_RETURN_IF_ERROR(context->forward_input_or_allocate_output(
        {0}, 0, kernel.shape(), kernel_grad));
    return context->allocate_output(1, gain.shape(), gain_grad);
  }

 private:
  int channels_begin_, channels_end_;
};

}  // namespace tf1_wn

// Registers the float and double CPU kernels of an op.
#define TF1_WN_REGISTER_CPU_KERNELS(OP_NAME, KERNEL)                    \
  REGISTER_KERNEL_BUILDER(                                             \
      Name(OP_NAME).Device(DEVICE_CPU).TypeConstraint<float>("T"),     \
      KERNEL<float>);                                                  \
  REGISTER_KERNEL_BUILDER(                                             \
      Name(OP_NAME).Device(DEVICE_CPU).TypeConstraint<double>("T"),    \
      KERNEL<double>)

#endif  // TF1_WN_NATIVE_CHANNEL_LOOPS_H_
