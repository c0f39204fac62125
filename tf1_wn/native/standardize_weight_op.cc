// Fused weight standardization for the CPU: one op forward, one backward.
//
// Composed from TensorFlow's elementwise ops, weight standardization costs
// about 20 ops per layer and step, most of them broadcasting a per-channel
// vector over the kernel (each ~25 us on a 3x3x64x64 kernel whatever the
// arithmetic).  These two kernels do the same arithmetic in two passes over
// the kernel each way.  The math is that of tf1_wn/standardization.py:
//
//   forward   centred = w - mean(w);  var = sum(centred^2) / divisor
//             r = 1 / sqrt(var + eps)  (eps_in_var)   or 1 / (std + eps)
//             t = r                    (eps_in_var)   or 1 / std, 0 if std = 0
//             y = centred * r * gain
//   backward  P = sum(dy * centred);  dy_mean = mean(dy)
//             d gain = r * P
//             d w = r * gain * (dy - dy_mean - centred * r * t * P / divisor)
//
// The kernel arrives reshaped to [outer, channels, inner]: statistics run
// over `outer` and `inner` for each channel.  Sums accumulate in double.
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

// The channel axes of the kernel are [channels_begin, channels_end); the
// statistics run over all the others.  Channel axes are adjacent in every
// layer's kernel (conv: the last; transposed conv: axis 2; depthwise: the
// last two), so the kernel is a [outer, channels, inner] array in memory.
Status ChannelShape(InferenceContext* c, ShapeHandle* stats) {
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

REGISTER_OP("Tf1WnStandardizeWeight")
    .Input("kernel: T")
    .Input("gain: T")
    .Input("eps: T")
    .Output("output: T")
    .Output("mean: T")
    .Output("inverse_scale: T")
    .Output("variance_factor: T")
    .Attr("T: {float, double}")
    .Attr("channels_begin: int >= 0")
    .Attr("channels_end: int >= 1")
    .Attr("eps_in_var: bool")
    .Attr("unbiased: bool")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle gain, eps, stats;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 1, &gain));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 0, &eps));
      TF_RETURN_IF_ERROR(ChannelShape(c, &stats));
      c->set_output(0, c->input(0));
      c->set_output(1, stats);
      c->set_output(2, stats);
      c->set_output(3, stats);
      return ::tensorflow::OkStatus();
    })
    .Doc("Weight standardization of a kernel, per channel.");

REGISTER_OP("Tf1WnStandardizeWeightGrad")
    .Input("grad: T")
    .Input("kernel: T")
    .Input("gain: T")
    .Input("mean: T")
    .Input("inverse_scale: T")
    .Input("variance_factor: T")
    .Output("kernel_grad: T")
    .Output("gain_grad: T")
    .Attr("T: {float, double}")
    .Attr("channels_begin: int >= 0")
    .Attr("channels_end: int >= 1")
    .Attr("unbiased: bool")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(1));
      c->set_output(1, c->input(2));
      return ::tensorflow::OkStatus();
    })
    .Doc("Gradient of Tf1WnStandardizeWeight.");

namespace {

struct Geometry {
  int64_t outer, channels, inner;
  int64_t count() const { return outer * inner; }
  int64_t size() const { return outer * channels * inner; }
};

Status CheckKernel(const Tensor& kernel, const Tensor& gain, int begin,
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

// Runs `work(first_channel, last_channel)` over all channels, split across
// the intra-op pool for large kernels.
template <typename Work>
void ForChannelBlocks(OpKernelContext* context, const Geometry& g,
                      int64_t passes, Work work) {
  if (g.size() < kParallelEntries) {
    work(0, g.channels);
    return;
  }
  auto* workers = context->device()->tensorflow_cpu_worker_threads();
  ::tensorflow::Shard(workers->num_threads, workers->workers, g.channels,
                      passes * g.count() * 4, work);
}

// The loops are written for the vectorizer: channels innermost when
// inner == 1 (every conv kernel), else an `omp simd` loop over inner.  They
// are compiled for AVX-512, AVX2 and the baseline, picked at load time.
#define TF1_WN_CLONES \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#define TF1_WN_INLINE inline __attribute__((always_inline))

// Partial sums run in T over blocks of this many rows (full vector width,
// no conversions), then are added into double accumulators.
constexpr int64_t kRowBlock = 16;

// For kTerms sums: sums[k][c] = sum over outer and inner of term_k(i, c),
// where i is the flat index of the entry and c its channel.
template <int kTerms, typename T, typename First, typename Second>
TF1_WN_INLINE void SumOverRows(const Geometry& g, int64_t c0, int64_t c1,
                               First first, Second second, T* partial,
                               double* first_sums, double* second_sums) {
  T* first_partial = partial;
  T* second_partial = partial + g.channels;
  for (int64_t c = c0; c < c1; ++c) {
    first_sums[c] = 0.0;
    if (kTerms == 2) second_sums[c] = 0.0;
  }
  if (g.inner == 1) {
    for (int64_t a0 = 0; a0 < g.outer; a0 += kRowBlock) {
      const int64_t a1 = std::min(a0 + kRowBlock, g.outer);
      for (int64_t c = c0; c < c1; ++c) {
        first_partial[c] = T(0);
        if (kTerms == 2) second_partial[c] = T(0);
      }
      for (int64_t a = a0; a < a1; ++a) {
        const int64_t row = a * g.channels;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) {
          first_partial[c] += first(row + c, c);
          if (kTerms == 2) second_partial[c] += second(row + c, c);
        }
      }
      for (int64_t c = c0; c < c1; ++c) {
        first_sums[c] += first_partial[c];
        if (kTerms == 2) second_sums[c] += second_partial[c];
      }
    }
    return;
  }
  for (int64_t a = 0; a < g.outer; ++a) {
    for (int64_t c = c0; c < c1; ++c) {
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

// Calls write(i, c) for every entry of channels [c0, c1).
template <typename Write>
TF1_WN_INLINE void ForEachEntry(const Geometry& g, int64_t c0, int64_t c1,
                                Write write) {
  for (int64_t a = 0; a < g.outer; ++a) {
    if (g.inner == 1) {
      const int64_t row = a * g.channels;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) write(row + c, c);
      continue;
    }
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t base = (a * g.channels + c) * g.inner;
#pragma omp simd
      for (int64_t b = 0; b < g.inner; ++b) write(base + b, c);
    }
  }
}

template <typename T>
struct ForwardArgs {
  Geometry g;
  const T* kernel;
  const T* gain;
  double eps, divisor;
  bool eps_in_var;
  T* output;
  T* mean;
  T* inverse_scale;
  T* variance_factor;
  double* sums;  // [2 * channels] scratch
  T* scratch;    // [3 * channels] scratch
};

template <typename T>
TF1_WN_INLINE void ForwardBlock(const ForwardArgs<T>& x, int64_t c0,
                                int64_t c1) {
  const Geometry& g = x.g;
  const T* w = x.kernel;
  T* mean = x.mean;
  // One pass for both statistics, over the kernel shifted by each
  // channel's first entry: the sums then measure the spread, not the mean,
  // so S2 - S1^2 / n does not cancel (unless an entry far from the rest
  // comes first), and a constant channel sums to exactly 0.
  T* shift = x.scratch + 2 * g.channels;
  for (int64_t c = c0; c < c1; ++c) shift[c] = w[c * g.inner];
  double* shifted_sums = x.sums;
  double* shifted_squares = x.sums + g.channels;
  SumOverRows<2>(
      g, c0, c1, [w, shift](int64_t i, int64_t c) { return w[i] - shift[c]; },
      [w, shift](int64_t i, int64_t c) {
        const T d = w[i] - shift[c];
        return d * d;
      },
      x.scratch, shifted_sums, shifted_squares);
  const double count = static_cast<double>(g.count());
  T* scale = shift;  // each shift is last read just below
  for (int64_t c = c0; c < c1; ++c) {
    const double offset = shifted_sums[c] / count;
    mean[c] = static_cast<T>(static_cast<double>(shift[c]) + offset);
    const double var =
        std::max(0.0, shifted_squares[c] - shifted_sums[c] * offset) /
        x.divisor;
    double r, t;
    if (x.eps_in_var) {
      r = 1.0 / std::sqrt(var + x.eps);
      t = r;
    } else {
      const double std_dev = std::sqrt(var);
      r = 1.0 / (std_dev + x.eps);
      t = std_dev > 0.0 ? 1.0 / std_dev : 0.0;
    }
    x.inverse_scale[c] = static_cast<T>(r);
    x.variance_factor[c] = static_cast<T>(t);
    scale[c] = static_cast<T>(r * static_cast<double>(x.gain[c]));
  }
  T* y = x.output;
  ForEachEntry(g, c0, c1, [w, mean, scale, y](int64_t i, int64_t c) {
    y[i] = (w[i] - mean[c]) * scale[c];
  });
}

template <typename T>
struct BackwardArgs {
  Geometry g;
  const T* grad;
  const T* kernel;
  const T* gain;
  const T* mean;
  const T* inverse_scale;
  const T* variance_factor;
  double divisor;
  T* kernel_grad;
  T* gain_grad;
  double* sums;  // [2 * channels] scratch
  T* scratch;    // [5 * channels] scratch
};

template <typename T>
TF1_WN_INLINE void BackwardBlock(const BackwardArgs<T>& x, int64_t c0,
                                 int64_t c1) {
  const Geometry& g = x.g;
  const T* dy = x.grad;
  const T* w = x.kernel;
  const T* mean = x.mean;
  double* grad_sums = x.sums;
  double* products = x.sums + g.channels;
  SumOverRows<2>(
      g, c0, c1, [dy](int64_t i, int64_t) { return dy[i]; },
      [dy, w, mean](int64_t i, int64_t c) { return dy[i] * (w[i] - mean[c]); },
      x.scratch, grad_sums, products);
  // d w = scale * (dy - mean(dy)) - centred * factor.
  T* scale = x.scratch + 2 * g.channels;
  T* grad_mean = x.scratch + 3 * g.channels;
  T* factor = x.scratch + 4 * g.channels;
  const double count = static_cast<double>(g.count());
  for (int64_t c = c0; c < c1; ++c) {
    const double r = x.inverse_scale[c];
    const double channel_scale = r * static_cast<double>(x.gain[c]);
    const double coefficient =
        r * static_cast<double>(x.variance_factor[c]) * products[c] /
        x.divisor;
    x.gain_grad[c] = static_cast<T>(r * products[c]);
    scale[c] = static_cast<T>(channel_scale);
    grad_mean[c] = static_cast<T>(grad_sums[c] / count);
    factor[c] = static_cast<T>(channel_scale * coefficient);
  }
  T* dw = x.kernel_grad;
  ForEachEntry(g, c0, c1, [=](int64_t i, int64_t c) {
    dw[i] = scale[c] * (dy[i] - grad_mean[c]) - (w[i] - mean[c]) * factor[c];
  });
}

#define TF1_WN_INSTANTIATE(T)                                              \
  TF1_WN_CLONES void Forward(const ForwardArgs<T>& x, int64_t c0,          \
                             int64_t c1) {                                 \
    ForwardBlock(x, c0, c1);                                               \
  }                                                                        \
  TF1_WN_CLONES void Backward(const BackwardArgs<T>& x, int64_t c0,        \
                              int64_t c1) {                                \
    BackwardBlock(x, c0, c1);                                              \
  }
TF1_WN_INSTANTIATE(float)
TF1_WN_INSTANTIATE(double)
#undef TF1_WN_INSTANTIATE

// The attributes both ops share: the channel axes and the divisor.
class StandardizeWeightOpBase : public OpKernel {
 public:
  explicit StandardizeWeightOpBase(OpKernelConstruction* context)
      : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("unbiased", &unbiased_));
    OP_REQUIRES_OK(context,
                   context->GetAttr("channels_begin", &channels_begin_));
    OP_REQUIRES_OK(context, context->GetAttr("channels_end", &channels_end_));
  }

 protected:
  Status CheckInputs(const Tensor& kernel, const Tensor& gain,
                     Geometry* g) const {
    TF_RETURN_IF_ERROR(
        CheckKernel(kernel, gain, channels_begin_, channels_end_, g));
    if (unbiased_ && g->count() < 2) {
      return ::tensorflow::errors::InvalidArgument(
          "unbiased variance needs 2 entries per channel, got kernel shape ",
          kernel.shape().DebugString());
    }
    return ::tensorflow::OkStatus();
  }

  double Divisor(const Geometry& g) const {
    return static_cast<double>(g.count() - (unbiased_ ? 1 : 0));
  }

 private:
  bool unbiased_;
  int channels_begin_, channels_end_;
};

template <typename T>
class StandardizeWeightOp : public StandardizeWeightOpBase {
 public:
  explicit StandardizeWeightOp(OpKernelConstruction* context)
      : StandardizeWeightOpBase(context) {
    OP_REQUIRES_OK(context, context->GetAttr("eps_in_var", &eps_in_var_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& kernel = context->input(0);
    const Tensor& gain = context->input(1);
    const Tensor& eps = context->input(2);
    Geometry g;
    OP_REQUIRES_OK(context, CheckInputs(kernel, gain, &g));
    OP_REQUIRES(context, eps.dims() == 0,
                ::tensorflow::errors::InvalidArgument(
                    "eps must be a scalar, got shape ",
                    eps.shape().DebugString()));
    Tensor *output, *mean, *inverse_scale, *variance_factor;
    const TensorShape channels({g.channels});
    OP_REQUIRES_OK(context,
                   context->allocate_output(0, kernel.shape(), &output));
    OP_REQUIRES_OK(context, context->allocate_output(1, channels, &mean));
    OP_REQUIRES_OK(context,
                   context->allocate_output(2, channels, &inverse_scale));
    OP_REQUIRES_OK(context,
                   context->allocate_output(3, channels, &variance_factor));
    std::vector<double> sums(2 * g.channels);
    std::vector<T> scratch(3 * g.channels);
    ForwardArgs<T> args;
    args.g = g;
    args.kernel = kernel.flat<T>().data();
    args.gain = gain.flat<T>().data();
    // eps comes as a tensor of type T: a float attr would round a float64
    // model's eps to float32.
    args.eps = static_cast<double>(eps.scalar<T>()());
    args.divisor = Divisor(g);
    args.eps_in_var = eps_in_var_;
    args.output = output->flat<T>().data();
    args.mean = mean->flat<T>().data();
    args.inverse_scale = inverse_scale->flat<T>().data();
    args.variance_factor = variance_factor->flat<T>().data();
    args.sums = sums.data();
    args.scratch = scratch.data();
    ForChannelBlocks(context, g, 3, [&args](int64_t c0, int64_t c1) {
      Forward(args, c0, c1);
    });
  }

 private:
  bool eps_in_var_;
};

template <typename T>
class StandardizeWeightGradOp : public StandardizeWeightOpBase {
 public:
  explicit StandardizeWeightGradOp(OpKernelConstruction* context)
      : StandardizeWeightOpBase(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& grad = context->input(0);
    const Tensor& kernel = context->input(1);
    const Tensor& gain = context->input(2);
    Geometry g;
    OP_REQUIRES_OK(context, CheckInputs(kernel, gain, &g));
    OP_REQUIRES(context, grad.shape() == kernel.shape(),
                ::tensorflow::errors::InvalidArgument(
                    "grad shape ", grad.shape().DebugString(),
                    " differs from kernel shape ",
                    kernel.shape().DebugString()));
    for (int i = 3; i < 6; ++i) {
      OP_REQUIRES(context, context->input(i).NumElements() == g.channels,
                  ::tensorflow::errors::InvalidArgument(
                      "statistics input ", i, " must have ", g.channels,
                      " entries"));
    }
    Tensor *kernel_grad, *gain_grad;
    // Each entry of grad is read before the same entry of kernel_grad is
    // written, so grad's buffer can be reused when nothing else holds it.
    OP_REQUIRES_OK(context, context->forward_input_or_allocate_output(
                                {0}, 0, kernel.shape(), &kernel_grad));
    OP_REQUIRES_OK(context,
                   context->allocate_output(1, gain.shape(), &gain_grad));
    std::vector<double> sums(2 * g.channels);
    std::vector<T> scratch(5 * g.channels);
    BackwardArgs<T> args;
    args.g = g;
    args.grad = grad.flat<T>().data();
    args.kernel = kernel.flat<T>().data();
    args.gain = gain.flat<T>().data();
    args.mean = context->input(3).flat<T>().data();
    args.inverse_scale = context->input(4).flat<T>().data();
    args.variance_factor = context->input(5).flat<T>().data();
    args.divisor = Divisor(g);
    args.kernel_grad = kernel_grad->flat<T>().data();
    args.gain_grad = gain_grad->flat<T>().data();
    args.sums = sums.data();
    args.scratch = scratch.data();
    ForChannelBlocks(context, g, 2, [&args](int64_t c0, int64_t c1) {
      Backward(args, c0, c1);
    });
  }

};

}  // namespace

#define TF1_WN_REGISTER(T)                                              \
  REGISTER_KERNEL_BUILDER(Name("Tf1WnStandardizeWeight")                \
                              .Device(DEVICE_CPU)                       \
                              .TypeConstraint<T>("T"),                  \
                          StandardizeWeightOp<T>);                      \
  REGISTER_KERNEL_BUILDER(Name("Tf1WnStandardizeWeightGrad")            \
                              .Device(DEVICE_CPU)                       \
                              .TypeConstraint<T>("T"),                  \
                          StandardizeWeightGradOp<T>);

TF1_WN_REGISTER(float)
TF1_WN_REGISTER(double)

#undef TF1_WN_REGISTER

}  // namespace tf1_wn
