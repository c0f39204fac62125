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
// Loops and layout: channel_loops.h.
#include "channel_loops.h"

namespace tf1_wn {

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

// What the row loops read and write; the per-channel arithmetic between
// the two passes is in Compute.  Each pass is split into row ranges
// (channel_loops.h, SumRowShards and ForRowShards).
template <typename T>
struct ForwardArgs {
  Geometry g;
  const T* kernel;
  const T* shift;  // the first pass: each channel's first entry
  const T* mean;   // the second pass
  const T* scale;  // the second pass: inverse scale * gain
  T* output;
};

// Forward, first pass: both statistics in one pass over the kernel
// shifted by each channel's first entry, so the sums measure the spread,
// not the mean: S2 - S1^2 / n does not cancel (unless an entry far from
// the rest comes first), and a constant channel sums to exactly 0.
template <typename T>
TF1_WN_INLINE void ForwardSumRows(const ForwardArgs<T>& x, int64_t a0,
                                  int64_t a1, T* partial, double* sums) {
  const T* w = x.kernel;
  const T* shift = x.shift;
  AddRowSums<2>(
      x.g, a0, a1,
      [w, shift](int64_t i, int64_t c) { return w[i] - shift[c]; },
      [w, shift](int64_t i, int64_t c) {
        const T d = w[i] - shift[c];
        return d * d;
      },
      partial, sums, sums + x.g.channels);
}

// Forward, second pass: y = (w - mean) * scale.
template <typename T>
TF1_WN_INLINE void ForwardRows(const ForwardArgs<T>& x, int64_t a0,
                               int64_t a1) {
  const T* w = x.kernel;
  const T* mean = x.mean;
  const T* scale = x.scale;
  T* y = x.output;
  ForEachEntryOfRows(x.g, a0, a1,
                     [w, mean, scale, y](int64_t i, int64_t c) {
                       y[i] = (w[i] - mean[c]) * scale[c];
                     });
}

template <typename T>
struct BackwardArgs {
  Geometry g;
  const T* grad;
  const T* kernel;
  const T* mean;
  const T* scale;      // the second pass
  const T* grad_mean;  // the second pass
  const T* factor;     // the second pass
  T* kernel_grad;
};

// Backward, first pass: sum(dy) and P = sum(dy * centred).
template <typename T>
TF1_WN_INLINE void BackwardSumRows(const BackwardArgs<T>& x, int64_t a0,
                                   int64_t a1, T* partial, double* sums) {
  const T* dy = x.grad;
  const T* w = x.kernel;
  const T* mean = x.mean;
  AddRowSums<2>(
      x.g, a0, a1, [dy](int64_t i, int64_t) { return dy[i]; },
      [dy, w, mean](int64_t i, int64_t c) { return dy[i] * (w[i] - mean[c]); },
      partial, sums, sums + x.g.channels);
}

// Backward, second pass: d w = scale * (dy - mean(dy)) - centred * factor.
// Each entry of dy is read before the same entry of d w is written (they
// may share a buffer).
template <typename T>
TF1_WN_INLINE void BackwardRows(const BackwardArgs<T>& x, int64_t a0,
                                int64_t a1) {
  const T* dy = x.grad;
  const T* w = x.kernel;
  const T* mean = x.mean;
  const T* scale = x.scale;
  const T* grad_mean = x.grad_mean;
  const T* factor = x.factor;
  T* dw = x.kernel_grad;
  ForEachEntryOfRows(x.g, a0, a1, [=](int64_t i, int64_t c) {
    dw[i] = scale[c] * (dy[i] - grad_mean[c]) - (w[i] - mean[c]) * factor[c];
  });
}

#define TF1_WN_INSTANTIATE(T)                                              \
  TF1_WN_CLONES void ForwardSums(const ForwardArgs<T>& x, int64_t a0,      \
                                 int64_t a1, T* partial, double* sums) {   \
    ForwardSumRows(x, a0, a1, partial, sums);                              \
  }                                                                        \
  TF1_WN_CLONES void Forward(const ForwardArgs<T>& x, int64_t a0,          \
                             int64_t a1) {                                 \
    ForwardRows(x, a0, a1);                                                \
  }                                                                        \
  TF1_WN_CLONES void BackwardSums(const BackwardArgs<T>& x, int64_t a0,    \
                                  int64_t a1, T* partial, double* sums) {  \
    BackwardSumRows(x, a0, a1, partial, sums);                             \
  }                                                                        \
  TF1_WN_CLONES void Backward(const BackwardArgs<T>& x, int64_t a0,        \
                              int64_t a1) {                                \
    BackwardRows(x, a0, a1);                                               \
  }
TF1_WN_INSTANTIATE(float)
TF1_WN_INSTANTIATE(double)
#undef TF1_WN_INSTANTIATE

// Adds the variance divisor to the channel attributes.
class StandardizeWeightOpBase : public ChannelOpBase {
 public:
  explicit StandardizeWeightOpBase(OpKernelConstruction* context)
      : ChannelOpBase(context) {
    OP_REQUIRES_OK(context, context->GetAttr("unbiased", &unbiased_));
  }

 protected:
  Status CheckInputs(const Tensor& kernel, const Tensor& gain,
                     Geometry* g) const {
    TF_RETURN_IF_ERROR(CheckKernelAndGain(kernel, gain, g));
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
    double eps_value;
    OP_REQUIRES_OK(context, ReadEps<T>(eps, &eps_value));
    Tensor *output, *mean, *inverse_scale, *variance_factor;
    const TensorShape channels({g.channels});
    OP_REQUIRES_OK(context,
                   context->allocate_output(0, kernel.shape(), &output));
    OP_REQUIRES_OK(context, context->allocate_output(1, channels, &mean));
    OP_REQUIRES_OK(context,
                   context->allocate_output(2, channels, &inverse_scale));
    OP_REQUIRES_OK(context,
                   context->allocate_output(3, channels, &variance_factor));
    const T* w = kernel.flat<T>().data();
    std::vector<T> shift(g.channels), scale(g.channels);
    for (int64_t c = 0; c < g.channels; ++c) shift[c] = w[c * g.inner];
    ForwardArgs<T> args{};
    args.g = g;
    args.kernel = w;
    args.shift = shift.data();
    const int64_t shards = RowShardCount(context, g);
    const std::vector<double> sums = SumRowShards<T, 2>(
        context, g, shards,
        [&args](int64_t a0, int64_t a1, T* partial, double* row_sums) {
          ForwardSums(args, a0, a1, partial, row_sums);
        });
    const double* shifted_sums = sums.data();
    const double* shifted_squares = sums.data() + g.channels;
    const double count = static_cast<double>(g.count());
    const double divisor = Divisor(g);
    const T* gains = gain.flat<T>().data();
    T* means = mean->flat<T>().data();
    T* inverse_scales = inverse_scale->flat<T>().data();
    T* variance_factors = variance_factor->flat<T>().data();
    for (int64_t c = 0; c < g.channels; ++c) {
      const double offset = shifted_sums[c] / count;
      means[c] = static_cast<T>(static_cast<double>(shift[c]) + offset);
      const double var =
          std::max(0.0, shifted_squares[c] - shifted_sums[c] * offset) /
          divisor;
      double r, t;
      if (eps_in_var_) {
        r = 1.0 / std::sqrt(var + eps_value);
        t = r;
      } else {
        const double std_dev = std::sqrt(var);
        r = 1.0 / (std_dev + eps_value);
        t = std_dev > 0.0 ? 1.0 / std_dev : 0.0;
      }
      inverse_scales[c] = static_cast<T>(r);
      variance_factors[c] = static_cast<T>(t);
      scale[c] = static_cast<T>(r * static_cast<double>(gains[c]));
    }
    args.mean = means;
    args.scale = scale.data();
    args.output = output->flat<T>().data();
    ForRowShards(context, g, shards,
                 [&args](int64_t, int64_t a0, int64_t a1) {
                   Forward(args, a0, a1);
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
    OP_REQUIRES_OK(context, CheckGradientInputs(context, kernel, g, 3));
    Tensor *kernel_grad, *gain_grad;
    OP_REQUIRES_OK(context, AllocateGradients(context, kernel, gain,
                                              &kernel_grad, &gain_grad));
    BackwardArgs<T> args{};
    args.g = g;
    args.grad = grad.flat<T>().data();
    args.kernel = kernel.flat<T>().data();
    args.mean = context->input(3).flat<T>().data();
    args.kernel_grad = kernel_grad->flat<T>().data();
    const int64_t shards = RowShardCount(context, g);
    const std::vector<double> sums = SumRowShards<T, 2>(
        context, g, shards,
        [&args](int64_t a0, int64_t a1, T* partial, double* row_sums) {
          BackwardSums(args, a0, a1, partial, row_sums);
        });
    const double* grad_sums = sums.data();
    const double* products = sums.data() + g.channels;
    const T* gains = gain.flat<T>().data();
    const T* inverse_scales = context->input(4).flat<T>().data();
    const T* variance_factors = context->input(5).flat<T>().data();
    T* gain_grads = gain_grad->flat<T>().data();
    const double count = static_cast<double>(g.count());
    const double divisor = Divisor(g);
    std::vector<T> scale(g.channels), grad_mean(g.channels),
        factor(g.channels);
    for (int64_t c = 0; c < g.channels; ++c) {
      const double r = inverse_scales[c];
      const double channel_scale = r * static_cast<double>(gains[c]);
      const double coefficient = r *
                                 static_cast<double>(variance_factors[c]) *
                                 products[c] / divisor;
      gain_grads[c] = static_cast<T>(r * products[c]);
      scale[c] = static_cast<T>(channel_scale);
      grad_mean[c] = static_cast<T>(grad_sums[c] / count);
      factor[c] = static_cast<T>(channel_scale * coefficient);
    }
    args.scale = scale.data();
    args.grad_mean = grad_mean.data();
    args.factor = factor.data();
    ForRowShards(context, g, shards,
                 [&args](int64_t, int64_t a0, int64_t a1) {
                   Backward(args, a0, a1);
                 });
  }
};

}  // namespace

TF1_WN_REGISTER_CPU_KERNELS("Tf1WnStandardizeWeight", StandardizeWeightOp);
TF1_WN_REGISTER_CPU_KERNELS("Tf1WnStandardizeWeightGrad",
                            StandardizeWeightGradOp);

}  // namespace tf1_wn
