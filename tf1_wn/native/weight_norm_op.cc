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
// each way, each split into row ranges for a large kernel.  Loops and
// layout: channel_loops.h.
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

// What the row loops read and write; the per-channel arithmetic between
// the two passes is in Compute.  Each pass is split into row ranges
// (channel_loops.h, SumRowShards and ForRowShards).
template <typename T>
struct WeightNormArgs {
  Geometry g;
  const T* direction;
  const T* grad;              // backward only
  const T* factor;            // the second pass: gain * inverse
  const T* direction_factor;  // backward's second pass
  T* output;
};

// Forward, second pass: w = v * factor.
template <typename T>
TF1_WN_INLINE void WeightNormScaleRows(const WeightNormArgs<T>& x,
                                       int64_t a0, int64_t a1) {
  const T* v = x.direction;
  const T* factor = x.factor;
  T* w = x.output;
  ForEachEntryOfRows(x.g, a0, a1, [v, factor, w](int64_t i, int64_t c) {
                       w[i] = v[i] * factor[c];
                     });
}

// Backward, first pass: adds dot = sum(dw * v) of rows [a0, a1) to sums.
template <typename T>
TF1_WN_INLINE void WeightNormGradSumRows(const WeightNormArgs<T>& x,
                                         int64_t a0, int64_t a1, T* partial,
                                         double* sums) {
  const T* v = x.direction;
  const T* dw = x.grad;
  auto unused = [](int64_t, int64_t) { return T(0); };
  AddRowSums<1>(x.g, a0, a1,
                [v, dw](int64_t i, int64_t) { return dw[i] * v[i]; }, unused,
                partial, sums, sums);
}

// Backward, second pass: d v = factor * dw - v * direction_factor, where
// direction_factor = factor * dot * inverse^2.  Each entry of dw is read
// before the same entry of d v is written (they may share a buffer).
template <typename T>
TF1_WN_INLINE void WeightNormGradRows(const WeightNormArgs<T>& x, int64_t a0,
                                      int64_t a1) {
  const T* v = x.direction;
  const T* dw = x.grad;
  const T* factor = x.factor;
  const T* direction_factor = x.direction_factor;
  T* dv = x.output;
  ForEachEntryOfRows(
      x.g, a0, a1,
      [v, dw, factor, direction_factor, dv](int64_t i, int64_t c) {
        dv[i] = factor[c] * dw[i] - v[i] * direction_factor[c];
      });
}

#define TF1_WN_INSTANTIATE(T)                                               \
  TF1_WN_CLONES void WeightNormSums(const WeightNormArgs<T>& x, int64_t a0, \
                                    int64_t a1, T* partial, double* sums) { \
    AddSquaredRowSums(x.g, a0, a1, x.direction, partial, sums);             \
  }                                                                         \
  TF1_WN_CLONES void WeightNormScale(const WeightNormArgs<T>& x,            \
                                     int64_t a0, int64_t a1) {              \
    WeightNormScaleRows(x, a0, a1);                                         \
  }                                                                         \
  TF1_WN_CLONES void WeightNormGradSums(const WeightNormArgs<T>& x,         \
                                        int64_t a0, int64_t a1, T* partial, \
                                        double* sums) {                     \
    WeightNormGradSumRows(x, a0, a1, partial, sums);                        \
  }                                                                         \
  TF1_WN_CLONES void WeightNormGrad(const WeightNormArgs<T>& x, int64_t a0, \
                                    int64_t a1) {                           \
    WeightNormGradRows(x, a0, a1);                                          \
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
    Geometry g;
    OP_REQUIRES_OK(context, CheckKernelAndGain(direction, gain, &g));
    double eps;
    OP_REQUIRES_OK(context, ReadEps<T>(context->input(2), &eps));
    Tensor *output, *inverse_norm;
    OP_REQUIRES_OK(context,
                   context->allocate_output(0, direction.shape(), &output));
    OP_REQUIRES_OK(context, context->allocate_output(
                                1, TensorShape({g.channels}), &inverse_norm));
    WeightNormArgs<T> args{};
    args.g = g;
    args.direction = direction.flat<T>().data();
    args.output = output->flat<T>().data();
    const int64_t shards = RowShardCount(context, g);
    const std::vector<double> sums = SumRowShards<T>(
        context, g, shards,
        [&args](int64_t a0, int64_t a1, T* partial, double* row_sums) {
          WeightNormSums(args, a0, a1, partial, row_sums);
        });
    std::vector<T> factor(g.channels);
    FactorsFromSums(g.channels, sums.data(),
                    gain.flat<T>().data(), eps,
                    inverse_norm->flat<T>().data(), factor.data());
    args.factor = factor.data();
    ForRowShards(context, g, shards,
                 [&args](int64_t, int64_t a0, int64_t a1) {
                   WeightNormScale(args, a0, a1);
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
    Geometry g;
    OP_REQUIRES_OK(context, CheckKernelAndGain(direction, gain, &g));
    OP_REQUIRES_OK(context, CheckGradientInputs(context, direction, g, 3));
    Tensor *direction_grad, *gain_grad;
    OP_REQUIRES_OK(context, AllocateGradients(context, direction, gain,
                                              &direction_grad, &gain_grad));
    WeightNormArgs<T> args{};
    args.g = g;
    args.direction = direction.flat<T>().data();
    args.grad = grad.flat<T>().data();
    args.output = direction_grad->flat<T>().data();
    const int64_t shards = RowShardCount(context, g);
    const std::vector<double> dots = SumRowShards<T>(
        context, g, shards,
        [&args](int64_t a0, int64_t a1, T* partial, double* row_sums) {
          WeightNormGradSums(args, a0, a1, partial, row_sums);
        });
    const T* gains = gain.flat<T>().data();
    const T* inverses = context->input(3).flat<T>().data();
    T* gain_grads = gain_grad->flat<T>().data();
    std::vector<T> factor(g.channels), direction_factor(g.channels);
    for (int64_t c = 0; c < g.channels; ++c) {
      const double inverse = inverses[c];
      const double channel_factor = static_cast<double>(gains[c]) * inverse;
      gain_grads[c] = static_cast<T>(dots[c] * inverse);
      factor[c] = static_cast<T>(channel_factor);
      direction_factor[c] =
          static_cast<T>(channel_factor * dots[c] * inverse * inverse);
    }
    args.factor = factor.data();
    args.direction_factor = direction_factor.data();
    ForRowShards(context, g, shards,
                 [&args](int64_t, int64_t a0, int64_t a1) {
                   WeightNormGrad(args, a0, a1);
                 });
  }
};

}  // namespace

TF1_WN_REGISTER_CPU_KERNELS("Tf1WnNormalizeWeight", WeightNormOp);
TF1_WN_REGISTER_CPU_KERNELS("Tf1WnNormalizeWeightGrad", WeightNormGradOp);

}  // namespace tf1_wn
