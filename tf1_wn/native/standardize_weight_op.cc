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
    ForwardArgs<T> args;
    OP_REQUIRES_OK(context, ReadEps<T>(eps, &args.eps));
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
    args.g = g;
    args.kernel = kernel.flat<T>().data();
    args.gain = gain.flat<T>().data();
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
    OP_REQUIRES_OK(context, CheckGradientInputs(context, kernel, g, 3));
    Tensor *kernel_grad, *gain_grad;
    OP_REQUIRES_OK(context, AllocateGradients(context, kernel, gain,
                                              &kernel_grad, &gain_grad));
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

TF1_WN_REGISTER_CPU_KERNELS("Tf1WnStandardizeWeight", StandardizeWeightOp);
TF1_WN_REGISTER_CPU_KERNELS("Tf1WnStandardizeWeightGrad",
                            StandardizeWeightGradOp);

}  // namespace tf1_wn
