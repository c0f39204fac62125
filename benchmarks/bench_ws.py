"""Training-step time of a weight-standardized conv net over the plain one.

The net of `bench_layers.py`: a 64-channel input, six 3x3 conv layers with
64 channels (ReLU, NHWC), a mean-squared loss and Adam; the WS net uses
`tf1_wn.ws_conv2d` (variant 'paper' unless --variant), the plain one
`tf.nn.conv2d` with the same variables otherwise.  Configurations: 8x8 and
32x32 inputs at batch 16, and the same with tf_slim's group norm after each
conv at batch 2.  Sessions use 2 intra-op and 2 inter-op threads (the
machine's cores), as `benchmarks/common.py` does.

Both graphs of a configuration live in one process and one session; their
steps are interleaved in rounds (``--steps`` steps of each net per round, the
order alternating), and the reported ratio is the median over rounds of
(WS time / plain time), so load drifting on a shared machine cancels out.
Wall-clock and process CPU time are both reported.

    .venv/bin/python benchmarks/bench_ws.py               # all four configs
    .venv/bin/python benchmarks/bench_ws.py --impls       # WS math variants

``--impls`` compares, at 8x8 batch 16, the library (native kernels, see
`tf1_wn.native_ops`), the library on composed TensorFlow ops (closed-form
gradient; what runs without a compiler or on a GPU), and autodiff through
three ways of computing the statistics.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402
from tf_slim.layers import normalization as slim_norm  # noqa: E402

import tf1_wn  # noqa: E402
from tf1_wn._tf import TF_VERSION  # noqa: E402

tf.disable_eager_execution()

CHANNELS = 64
LAYERS = 6
GROUPS = 32


def _group_norm(h, index):
    return slim_norm.group_norm(h, groups=GROUPS, scope=f"gn{index}")


def _conv_through(kernel_fn):
    """A conv layer on plain variables whose kernel goes through
    `kernel_fn` (identity: the plain net; a WS formula: TF derives its
    gradient by autodiff)."""
    def conv(h, index, variant):
        del variant
        kernel = tf.get_variable(
            f"conv{index}/kernel", [3, 3, h.shape[-1], CHANNELS],
            initializer=tf.random_normal_initializer(0.0, 0.05))
        bias = tf.get_variable(f"conv{index}/bias", [CHANNELS],
                               initializer=tf.zeros_initializer())
        return tf.nn.bias_add(
            tf.nn.conv2d(h, kernel_fn(kernel), 1, "SAME"), bias)
    return conv


plain_conv = _conv_through(lambda kernel: kernel)


def ws_conv(h, index, variant):
    return tf1_wn.ws_conv2d(h, CHANNELS, 3, variant=variant,
                            scope=f"conv{index}")


def ws_conv_composed(h, index, variant):
    """`ws_conv` built from composed TensorFlow ops (no native kernels)."""
    previous = tf1_wn.native_ops.set_mode("off")
    try:
        return ws_conv(h, index, variant)
    finally:
        tf1_wn.native_ops.set_mode(previous)


def _two_pass(kernel):
    mean = tf.reduce_mean(kernel, [0, 1, 2], keepdims=True)
    centred = kernel - mean
    var = tf.reduce_mean(tf.square(centred), [0, 1, 2], keepdims=True)
    return centred * tf.rsqrt(var + 1e-6)


def _moments(kernel):
    mean, var = tf.nn.moments(kernel, [0, 1, 2], keep_dims=True)
    return (kernel - mean) * tf.rsqrt(var + 1e-6)


def _sum_of_squares(kernel):
    mean = tf.reduce_mean(kernel, [0, 1, 2], keepdims=True)
    mean_sq = tf.reduce_mean(tf.square(kernel), [0, 1, 2], keepdims=True)
    return (kernel - mean) * tf.rsqrt(mean_sq - tf.square(mean) + 1e-6)


def build_net(name, conv, size, batch, group_norm, variant):
    """One training step op of the six-layer net, under scope `name`."""
    with tf.variable_scope(name):
        rng = np.random.default_rng(0)
        images = tf.constant(
            rng.normal(size=(batch, size, size, CHANNELS)).astype(np.float32))
        h = images
        for index in range(LAYERS):
            h = conv(h, index, variant)
            if group_norm:
                h = _group_norm(h, index)
            h = tf.nn.relu(h)
        loss = tf.reduce_mean(tf.square(tf.reduce_mean(h, [1, 2]) - 1.0))
        variables = tf.trainable_variables(name + "/")
        return tf.train.AdamOptimizer(1e-3).minimize(loss,
                                                     var_list=variables)


def time_interleaved(sess, ops, rounds, steps, warmup=3):
    """Per-round seconds per step of every op, the order alternating.

    Returns ``(wall, cpu)``: dicts of per-round wall-clock and process CPU
    times.  CPU time (both intra-op threads summed) is the steadier figure
    on a shared machine, where wall time also counts waiting for a core.
    """
    names = list(ops)
    for name in names:
        for _ in range(warmup):
            sess.run(ops[name])
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for round_index in range(rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                sess.run(ops[name])
            wall[name].append((time.perf_counter() - start) / steps)
            cpu[name].append((time.process_time() - start_cpu) / steps)
    return wall, cpu


def report(times, baseline):
    lines = []
    for name, values in times.items():
        ratios = [v / b for v, b in zip(values, times[baseline])]
        lines.append(
            f"  {name:16s} median {statistics.median(values) * 1e3:8.2f} ms"
            f"  min {min(values) * 1e3:8.2f} ms"
            f"  ratio {statistics.median(ratios):.3f}"
            f" (IQR {np.percentile(ratios, 25):.3f}-"
            f"{np.percentile(ratios, 75):.3f};"
            f" of minima {min(values) / min(times[baseline]):.3f})")
    return "\n".join(lines)


CONFIGS = {
    "8x8": dict(size=8, batch=16, group_norm=False),
    "32x32": dict(size=32, batch=16, group_norm=False),
    "8x8+GN": dict(size=8, batch=2, group_norm=True),
    "32x32+GN": dict(size=32, batch=2, group_norm=True),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help="comma-separated subset of " + ", ".join(CONFIGS))
    parser.add_argument("--variant", default="paper")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=5,
                        help="steps of each net per round")
    parser.add_argument("--threads", type=int, default=2,
                        help="intra-op threads (the machine's cores)")
    parser.add_argument("--impls", action="store_true",
                        help="compare WS implementations at 8x8 batch 16")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only proves the code runs")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps, args.configs = 2, 1, "8x8"
    config = tf.ConfigProto(intra_op_parallelism_threads=args.threads,
                            inter_op_parallelism_threads=args.threads)
    native = tf1_wn.native_ops.library() is not None
    print(f"TensorFlow {TF_VERSION}, intra-op threads {args.threads}, "
          f"variant {args.variant!r}, native kernels "
          f"{'on' if native else 'OFF'}, "
          f"{args.rounds} rounds x {args.steps} steps")
    if args.impls:
        suites = {"8x8 impls": (dict(size=8, batch=16, group_norm=False), {
            "plain": plain_conv, "library": ws_conv,
            "library_composed": ws_conv_composed,
            "autodiff_2pass": _conv_through(_two_pass),
            "autodiff_moments": _conv_through(_moments),
            "autodiff_sumsq": _conv_through(_sum_of_squares)})}
    else:
        suites = {name: (CONFIGS[name], {"plain": plain_conv, "ws": ws_conv})
                  for name in args.configs.split(",")}
    for suite, (shape, convs) in suites.items():
        with tf.Graph().as_default():
            ops = {name: build_net(name, conv, **shape,
                                   variant=args.variant)
                   for name, conv in convs.items()}
            with tf.Session(config=config) as sess:
                sess.run(tf.global_variables_initializer())
                wall, cpu = time_interleaved(sess, ops, args.rounds,
                                             args.steps)
        print(f"{suite} (batch {shape['batch']}), wall clock:")
        print(report(wall, "plain"))
        print(f"{suite} (batch {shape['batch']}), process CPU time:")
        print(report(cpu, "plain"), flush=True)


if __name__ == "__main__":
    main()
