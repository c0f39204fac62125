// Fused weight normalization for the CPU: one op forward, one backward.
//
// The math is that of tf1_wn/normalization.py (normalize_weight and its
// closed-form gradient), per channel c:
//
//   forward   inverse = 1 / sqrt(sum(v^2) + eps);  w = v * gain * inverse
//   backward  dot = sum(dw * v)
//             d gain = dot * inverse
//             d v = gain * inverse * (dw - v * dot * inverse^2)
//
// Composed from TensorFlow ops that is seven kernel-sized ops per layer and
// step, three of them broadcasting; here it is two passes over the kernel
// each way.  Loops and layout: channel_loops.h.
#include "weight_norm_factor.h"

namespace tf1_wn {

REGISTER_OP("Tf1WnNormalizeWeight")
    .Input("direction: T")
    .Input("gain: T")
    .Input("eps: T")
    .Output("output: T")
    .Output("inverse_norm: T")
    .Attr("T: {float, double}")
    .Attr("channels_begin: int >= 0")
    .Attr("channels_end: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle gain, eps, stats;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 1, &gain));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 0, &eps));
      TF_RETURN_IF_ERROR(ChannelShape(c, &stats));
      c->set_output(0, c->input(0));
      c->set_output(1, stats);
      return ::tensorflow::OkStatus();
    })
    .Doc("Weight normalization of a kernel, per channel.");

REGISTER_OP("Tf1WnNormalizeWeightGrad")
    .Input("grad: T")
    .Input("direction: T")
    .Input("gain: T")
    .Input("inverse_norm: T")
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
    .Doc("Gradient of Tf1WnNormalizeWeight.");

namespace {

template <typename T>
struct WeightNormArgs {
  Geometry g;
  const T* direction;
  const T* gain;
  const T* grad;  // backward only
  double eps;
  T* output;
  T* inverse_norm;
  T* gain_grad;   // backward only
  double* sums;   // [channels] scratch
  T* scratch;     // [3 * channels] scratch
};

template <typename T>
TF1_WN_INLINE void WeightNormForwardBlock(const WeightNormArgs<T>& x,
                                          int64_t c0, int64_t c1) {
  const Geometry& g = x.g;
  const T* v = x.direction;
  T* factor = x.scratch + 2 * g.channels;
  WeightNormFactors(g, c0, c1, v, x.gain, x.eps, x.scratch, x.sums,
                    x.inverse_norm, factor);
  T* w = x.output;
  ForEachEntry(g, c0, c1, [v, factor, w](int64_t i, int64_t c) {
    w[i] = v[i] * factor[c];
  });
}

template <typename T>
TF1_WN_INLINE void WeightNormBackwardBlock(const WeightNormArgs<T>& x,
                                           int64_t c0, int64_t c1) {
  const Geometry& g = x.g;
  const T* v = x.direction;
  const T* dw = x.grad;
  auto unused = [](int64_t, int64_t) { return T(0); };
  SumOverRows<1>(g, c0, c1, [v, dw](int64_t i, int64_t) { return dw[i] * v[i]; },
                 unused, x.scratch, x.sums, x.sums);
  // d v = factor * dw - v * (factor * dot * inverse^2).
  T* factor = x.scratch + 2 * g.channels;
  T* direction_factor = x.scratch;  // the partial sums are done with
  for (int64_t c = c0; c < c1; ++c) {
    const double inverse = x.inverse_norm[c];
    const double channel_factor = static_cast<double>(x.gain[c]) * inverse;
    x.gain_grad[c] = static_cast<T>(x.sums[c] * inverse);
    factor[c] = static_cast<T>(channel_factor);
    direction_factor[c] =
        static_cast<T>(channel_factor * x.sums[c] * inverse * inverse);
  }
  T* dv = x.output;
  ForEachEntry(g, c0, c1,
               [v, dw, factor, direction_factor, dv](int64_t i, int64_t c) {
                 dv[i] = factor[c] * dw[i] - v[i] * direction_factor[c];
               });
}

#define TF1_WN_INSTANTIATE(T)                                               \
  TF1_WN_CLONES void WeightNormForward(const WeightNormArgs<T>& x,          \
                                       int64_t c0, int64_t c1) {            \
    WeightNormForwardBlock(x, c0, c1);                                      \
  }                                                                         \
  TF1_WN_CLONES void WeightNormBackward(const WeightNormArgs<T>& x,         \
                                        int64_t c0, int64_t c1) {           \
    WeightNormBackwardBlock(x, c0, c1);                                     \
  }
TF1_WN_INSTANTIATE(float)
TF1_WN_INSTANTIATE(double)
#undef TF1_WN_INSTANTIATE

template <typename T>
class WeightNormOp : public ChannelOpBase {
 public:
  explicit WeightNormOp(OpKernelConstruction* context)
      : ChannelOpBase(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& direction = context->input(0);
    const Tensor& gain = context->input(1);
    const Tensor& eps = context->input(2);
    Geometry g;
    OP_REQUIRES_OK(context, CheckKernelAndGain(direction, gain, &g));
    WeightNormArgs<T> args{};
    OP_REQUIRES_OK(context, ReadEps<T>(eps, &args.eps));
    Tensor *output, *inverse_norm;
    OP_REQUIRES_OK(context,
                   context->allocate_output(0, direction.shape(), &output));
    OP_REQUIRES_OK(context, context->allocate_output(
                                1, TensorShape({g.channels}), &inverse_norm));
    std::vector<double> sums(g.channels);
    std::vector<T> scratch(3 * g.channels);
    args.g = g;
    args.direction = direction.flat<T>().data();
    args.gain = gain.flat<T>().data();
    args.output = output->flat<T>().data();
    args.inverse_norm = inverse_norm->flat<T>().data();
    args.sums = sums.data();
    args.scratch = scratch.data();
    ForChannelBlocks(context, g, 2, [&args](int64_t c0, int64_t c1) {
      WeightNormForward(args, c0, c1);
    });
  }
};

template <typename T>
class WeightNormGradOp : public ChannelOpBase {
 public:
  explicit WeightNormGradOp(OpKernelConstruction* context)
      : ChannelOpBase(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& grad = context->input(0);
    const Tensor& direction = context->input(1);
    const Tensor& gain = context->input(2);
    const Tensor& inverse_norm = context->input(3);
    Geometry g;
    OP_REQUIRES_OK(context, CheckKernelAndGain(direction, gain, &g));
    OP_REQUIRES_OK(context, CheckGradientInputs(context, direction, g, 3));
    Tensor *direction_grad, *gain_grad;
    OP_REQUIRES_OK(context, AllocateGradients(context, direction, gain,
                                              &direction_grad, &gain_grad));
    std::vector<double> sums(g.channels);
    std::vector<T> scratch(3 * g.channels);
    WeightNormArgs<T> args{};
    args.g = g;
    args.direction = direction.flat<T>().data();
    args.gain = gain.flat<T>().data();
    args.grad = grad.flat<T>().data();
    // inverse_norm is an input here; the block only reads it.
    args.inverse_norm = const_cast<T*>(inverse_norm.flat<T>().data());
    args.output = direction_grad->flat<T>().data();
    args.gain_grad = gain_grad->flat<T>().data();
    args.sums = sums.data();
    args.scratch = scratch.data();
    ForChannelBlocks(context, g, 2, [&args](int64_t c0, int64_t c1) {
      WeightNormBackward(args, c0, c1);
    });
  }
};

}  // namespace

TF1_WN_REGISTER_CPU_KERNELS("Tf1WnNormalizeWeight", WeightNormOp);
TF1_WN_REGISTER_CPU_KERNELS("Tf1WnNormalizeWeightGrad", WeightNormGradOp);

}  // namespace tf1_wn
