// Output scaling for the CPU: a dense layer with fewer rows than features
// computes y = (x @ v) * factor + bias rather than x @ (v * factor) + bias,
// with, per channel c:
//
//   factor = gain * inverse,  inverse = 1 / sqrt(sum(v^2) + eps)
//
// Four ops, one pass each over the kernel or the output:
//
//   Tf1WnNormFactor         v, gain -> factor, inverse
//   Tf1WnScaleColumns       h = x @ v, factor, bias -> y
//   Tf1WnScaleColumnsGrad   dy, h, factor -> dh = dy * factor,
//                           F = sum over rows of dy * h, d bias = sum of dy
//   Tf1WnScaledProductGrad  P = x^T dh, v, gain, inverse, F ->
//                           d v = P - v * (F * gain * inverse^3),
//                           d gain = F * inverse
//
// The gradients write over their first input's buffer (dy, P) when nothing
// else holds it.  Composed from TensorFlow ops the same math is three more
// kernel-sized passes (the norm, a multiply into a new tensor and an add)
// and four more over the output.  The math is that of
// tf1_wn/normalization.py (channel_scale, scaled_matmul).
#include "weight_norm_factor.h"

namespace tf1_wn {

REGISTER_OP("Tf1WnNormFactor")
    .Input("direction: T")
    .Input("gain: T")
    .Input("eps: T")
    .Output("factor: T")
    .Output("inverse_norm: T")
    .Attr("T: {float, double}")
    .Attr("channels_begin: int >= 0")
    .Attr("channels_end: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle gain, eps, stats;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 1, &gain));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 0, &eps));
      TF_RETURN_IF_ERROR(ChannelShape(c, &stats));
      c->set_output(0, stats);
      c->set_output(1, stats);
      return ::tensorflow::OkStatus();
    })
    .Doc("Per-channel factor gain / sqrt(sum(direction^2) + eps).");

REGISTER_OP("Tf1WnScaledProductGrad")
    .Input("product_grad: T")
    .Input("direction: T")
    .Input("gain: T")
    .Input("inverse_norm: T")
    .Input("factor_grad: T")
    .Output("direction_grad: T")
    .Output("gain_grad: T")
    .Attr("T: {float, double}")
    .Attr("channels_begin: int >= 0")
    .Attr("channels_end: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(1));
      c->set_output(1, c->input(2));
      return ::tensorflow::OkStatus();
    })
    .Doc("Gradient of (x @ direction) * Tf1WnNormFactor(direction, gain) "
         "with respect to direction and gain, from the matmul's direction "
         "gradient and the factor's gradient.");

REGISTER_OP("Tf1WnScaleColumns")
    .Input("product: T")
    .Input("factor: T")
    .Input("bias: N * T")
    .Output("output: T")
    .Attr("T: {float, double}")
    .Attr("N: int >= 0 = 0")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle product;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &product));
      c->set_output(0, product);
      return ::tensorflow::OkStatus();
    })
    .Doc("product * factor (+ bias), per column of a matrix.");

REGISTER_OP("Tf1WnScaleColumnsGrad")
    .Input("grad: T")
    .Input("product: T")
    .Input("factor: T")
    .Output("product_grad: T")
    .Output("factor_grad: T")
    .Output("bias_grad: T")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(2));
      c->set_output(2, c->input(2));
      return ::tensorflow::OkStatus();
    })
    .Doc("Gradient of Tf1WnScaleColumns.");

namespace {

// What the row loops of Tf1WnNormFactor and Tf1WnScaledProductGrad read
// and write; the per-channel arithmetic around them is in Compute.
template <typename T>
struct ChannelScaleArgs {
  Geometry g;
  const T* direction;
  const T* product_grad;   // backward only
  const T* factor;         // backward: the coefficient of v in d v
  T* direction_grad;       // backward only
};

// d v for rows [a0, a1), with the per-channel coefficient in x.factor.
template <typename T>
TF1_WN_INLINE void ScaledProductGradRows(const ChannelScaleArgs<T>& x,
                                         int64_t a0, int64_t a1) {
  const T* coefficient = x.factor;
  const T* v = x.direction;
  const T* p = x.product_grad;
  T* dv = x.direction_grad;
  ForEachEntryOfRows(x.g, a0, a1,
                     [v, p, coefficient, dv](int64_t i, int64_t c) {
                       dv[i] = p[i] - v[i] * coefficient[c];
                     });
}

// A [rows, channels] matrix and its per-column vectors.
inline Status CheckColumns(const Tensor& matrix, const Tensor& vector,
                           Geometry* g) {
  if (matrix.dims() != 2) {
    return ::tensorflow::errors::InvalidArgument(
        "product must be a matrix, got shape ",
        matrix.shape().DebugString());
  }
  g->outer = matrix.dim_size(0);
  g->channels = matrix.dim_size(1);
  g->inner = 1;
  if (vector.dims() != 1 || vector.dim_size(0) != g->channels) {
    return ::tensorflow::errors::InvalidArgument(
        "per-column vectors must have shape [", g->channels, "], got ",
        vector.shape().DebugString());
  }
  return ::tensorflow::OkStatus();
}

template <typename T>
struct ScaleColumnsArgs {
  Geometry g;
  const T* grad;      // backward only
  const T* product;
  const T* factor;
  const T* bias;      // forward, may be null
  T* output;          // forward: y; backward: d product
};

// y = h * factor (+ bias) for rows [a0, a1).
template <typename T>
TF1_WN_INLINE void ScaleColumnsRows(const ScaleColumnsArgs<T>& x, int64_t a0,
                                    int64_t a1) {
  const T* h = x.product;
  const T* f = x.factor;
  const T* b = x.bias;
  T* y = x.output;
  if (b != nullptr) {
    ForEachEntryOfRows(x.g, a0, a1, [h, f, b, y](int64_t i, int64_t c) {
      y[i] = h[i] * f[c] + b[c];
    });
  } else {
    ForEachEntryOfRows(x.g, a0, a1, [h, f, y](int64_t i, int64_t c) {
      y[i] = h[i] * f[c];
    });
  }
}

// For rows [a0, a1): adds sum(dy) into sums[0:channels] and sum(dy * h)
// into sums[channels:], and writes d product = dy * factor.  Both terms
// read dy[i] before the second writes d product[i] (they may share a
// buffer).
template <typename T>
TF1_WN_INLINE void ScaleColumnsGradRows(const ScaleColumnsArgs<T>& x,
                                        int64_t a0, int64_t a1, T* partial,
                                        double* sums) {
  const T* dy = x.grad;
  const T* h = x.product;
  const T* f = x.factor;
  T* dh = x.output;
  AddRowSums<2>(
      x.g, a0, a1, [dy](int64_t i, int64_t) { return dy[i]; },
      [dy, h, f, dh](int64_t i, int64_t c) {
        const T d = dy[i];
        dh[i] = d * f[c];
        return d * h[i];
      },
      partial, sums, sums + x.g.channels);
}

#define TF1_WN_INSTANTIATE(T)                                              \
  TF1_WN_CLONES void NormFactorForward(const ChannelScaleArgs<T>& x,       \
                                       int64_t a0, int64_t a1, T* partial, \
                                       double* sums) {                     \
    AddSquaredRowSums(x.g, a0, a1, x.direction, partial, sums);            \
  }                                                                        \
  TF1_WN_CLONES void ScaledProductBackward(const ChannelScaleArgs<T>& x,   \
                                           int64_t a0, int64_t a1) {       \
    ScaledProductGradRows(x, a0, a1);                                      \
  }                                                                        \
  TF1_WN_CLONES void ScaleColumnsForward(const ScaleColumnsArgs<T>& x,     \
                                         int64_t a0, int64_t a1) {         \
    ScaleColumnsRows(x, a0, a1);                                           \
  }                                                                        \
  TF1_WN_CLONES void ScaleColumnsBackward(const ScaleColumnsArgs<T>& x,    \
                                          int64_t a0, int64_t a1,          \
                                          T* partial, double* sums) {      \
    ScaleColumnsGradRows(x, a0, a1, partial, sums);                        \
  }
TF1_WN_INSTANTIATE(float)
TF1_WN_INSTANTIATE(double)
#undef TF1_WN_INSTANTIATE

template <typename T>
class ChannelScaleOp : public ChannelOpBase {
 public:
  explicit ChannelScaleOp(OpKernelConstruction* context)
      : ChannelOpBase(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& direction = context->input(0);
    const Tensor& gain = context->input(1);
    Geometry g;
    OP_REQUIRES_OK(context, CheckKernelAndGain(direction, gain, &g));
    double eps;
    OP_REQUIRES_OK(context, ReadEps<T>(context->input(2), &eps));
    Tensor *factor, *inverse_norm;
    const TensorShape stats({g.channels});
    OP_REQUIRES_OK(context, context->allocate_output(0, stats, &factor));
    OP_REQUIRES_OK(context, context->allocate_output(1, stats, &inverse_norm));
    ChannelScaleArgs<T> args{};
    args.g = g;
    args.direction = direction.flat<T>().data();
    const std::vector<double> sums = SumRowShards<T>(
        context, g, RowShardCount(context, g),
        [&args](int64_t a0, int64_t a1, T* partial, double* row_sums) {
          NormFactorForward(args, a0, a1, partial, row_sums);
        });
    FactorsFromSums(g.channels, sums.data(),
                    gain.flat<T>().data(), eps,
                    inverse_norm->flat<T>().data(), factor->flat<T>().data());
  }
};

template <typename T>
class ScaledProductGradOp : public ChannelOpBase {
 public:
  explicit ScaledProductGradOp(OpKernelConstruction* context)
      : ChannelOpBase(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& product_grad = context->input(0);
    const Tensor& direction = context->input(1);
    const Tensor& gain = context->input(2);
    Geometry g;
    OP_REQUIRES_OK(context, CheckKernelAndGain(direction, gain, &g));
    OP_REQUIRES_OK(context, CheckGradientInputs(context, direction, g, 3));
    Tensor *direction_grad, *gain_grad;
    OP_REQUIRES_OK(context, AllocateGradients(context, direction, gain,
                                              &direction_grad, &gain_grad));
    const T* gain_values = gain.flat<T>().data();
    const T* inverse_values = context->input(3).flat<T>().data();
    const T* factor_grad = context->input(4).flat<T>().data();
    T* gain_grad_values = gain_grad->flat<T>().data();
    std::vector<T> coefficient(g.channels);
    for (int64_t c = 0; c < g.channels; ++c) {
      const double inverse = inverse_values[c];
      gain_grad_values[c] = static_cast<T>(factor_grad[c] * inverse);
      coefficient[c] = static_cast<T>(static_cast<double>(factor_grad[c]) *
                                      static_cast<double>(gain_values[c]) *
                                      inverse * inverse * inverse);
    }
    ChannelScaleArgs<T> args{};
    args.g = g;
    args.direction = direction.flat<T>().data();
    args.product_grad = product_grad.flat<T>().data();
    args.factor = coefficient.data();
    args.direction_grad = direction_grad->flat<T>().data();
    ForRowShards(context, g, RowShardCount(context, g),
                 [&args](int64_t, int64_t a0, int64_t a1) {
                   ScaledProductBackward(args, a0, a1);
                 });
  }
};

template <typename T>
class ScaleColumnsOp : public OpKernel {
 public:
  explicit ScaleColumnsOp(OpKernelConstruction* context)
      : OpKernel(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& product = context->input(0);
    const Tensor& factor = context->input(1);
    Geometry g;
    OP_REQUIRES_OK(context, CheckColumns(product, factor, &g));
    ScaleColumnsArgs<T> args{};
    if (context->num_inputs() > 2) {
      const Tensor& bias = context->input(2);
      OP_REQUIRES_OK(context, CheckColumns(product, bias, &g));
      args.bias = bias.flat<T>().data();
    }
    Tensor* output;
    OP_REQUIRES_OK(context, context->forward_input_or_allocate_output(
                                {0}, 0, product.shape(), &output));
    args.g = g;
    args.product = product.flat<T>().data();
    args.factor = factor.flat<T>().data();
    args.output = output->flat<T>().data();
    ForRowShards(context, g, RowShardCount(context, g),
                 [&args](int64_t, int64_t a0, int64_t a1) {
                   ScaleColumnsForward(args, a0, a1);
                 });
  }
};

template <typename T>
class ScaleColumnsGradOp : public OpKernel {
 public:
  explicit ScaleColumnsGradOp(OpKernelConstruction* context)
      : OpKernel(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& grad = context->input(0);
    const Tensor& product = context->input(1);
    const Tensor& factor = context->input(2);
    Geometry g;
    OP_REQUIRES_OK(context, CheckColumns(product, factor, &g));
    OP_REQUIRES(context, grad.shape() == product.shape(),
                ::tensorflow::errors::InvalidArgument(
                    "grad shape ", grad.shape().DebugString(),
                    " differs from product shape ",
                    product.shape().DebugString()));
    Tensor *product_grad, *factor_grad, *bias_grad;
    OP_REQUIRES_OK(context, context->forward_input_or_allocate_output(
                                {0}, 0, grad.shape(), &product_grad));
    OP_REQUIRES_OK(context,
                   context->allocate_output(1, factor.shape(), &factor_grad));
    OP_REQUIRES_OK(context,
                   context->allocate_output(2, factor.shape(), &bias_grad));
    ScaleColumnsArgs<T> args{};
    args.g = g;
    args.grad = grad.flat<T>().data();
    args.product = product.flat<T>().data();
    args.factor = factor.flat<T>().data();
    args.output = product_grad->flat<T>().data();
    const std::vector<double> sums = SumRowShards<T, 2>(
        context, g, RowShardCount(context, g),
        [&args](int64_t a0, int64_t a1, T* partial, double* row_sums) {
          ScaleColumnsBackward(args, a0, a1, partial, row_sums);
        });
    T* factor_grad_values = factor_grad->flat<T>().data();
    T* bias_grad_values = bias_grad->flat<T>().data();
    for (int64_t c = 0; c < g.channels; ++c) {
      bias_grad_values[c] = static_cast<T>(sums[c]);
      factor_grad_values[c] = static_cast<T>(sums[g.channels + c]);
    }
  }
};

}  // namespace

TF1_WN_REGISTER_CPU_KERNELS("Tf1WnNormFactor", ChannelScaleOp);
TF1_WN_REGISTER_CPU_KERNELS("Tf1WnScaledProductGrad", ScaledProductGradOp);
TF1_WN_REGISTER_CPU_KERNELS("Tf1WnScaleColumns", ScaleColumnsOp);
TF1_WN_REGISTER_CPU_KERNELS("Tf1WnScaleColumnsGrad", ScaleColumnsGradOp);

}  // namespace tf1_wn
