"""Training-step cost of weight-normalized layers over plain layers.

Both networks are built in the same graph and process, steps interleave in
alternating blocks, and the figure is the median over blocks of
``time(weight norm step) / time(plain step)``; a step is forward, backward
and Adam.  Also: graph-construction time for 50 conv layers with gradients
and Adam, and the data-init pass relative to one training step.  The 8x8
conv net runs a second time inside `tf1_wn.recompute_kernels()`.

    python benchmarks/bench_layers.py [--blocks N] [--pin] [--quick]

``--pin`` runs on one core with one thread, where the figures are stable to
about +-0.01 (on two threads the two networks' ops race each other and the
figures spread by +-0.05).
"""
import argparse
import gc
import statistics
import sys
import time

import numpy as np

from common import interleaved_ratios, intra_op_threads, session, tf

import tf1_wn


def plain_conv(x, filters, name):
    with tf.variable_scope(name):
        kernel = tf.get_variable(
            "kernel", [3, 3, x.shape[-1], filters],
            initializer=tf.random_normal_initializer(0, 0.05))
        bias = tf.get_variable("bias", [filters],
                               initializer=tf.zeros_initializer())
        return tf.nn.relu(tf.nn.bias_add(
            tf.nn.conv2d(x, kernel, 1, "SAME"), bias))


def plain_dense(x, units, name, activation=tf.nn.relu):
    with tf.variable_scope(name):
        kernel = tf.get_variable(
            "kernel", [x.shape[-1], units],
            initializer=tf.random_normal_initializer(0, 0.03))
        bias = tf.get_variable("bias", [units],
                               initializer=tf.zeros_initializer())
        y = tf.nn.bias_add(tf.matmul(x, kernel), bias)
        return activation(y) if activation else y


def plain_conv_with_gain(x, filters, name):
    """A plain conv with one more trained per-channel variable (an output
    scale): what one extra variable and its Adam slots cost to build."""
    with tf.variable_scope(name):
        gain = tf.get_variable("g", [filters],
                               initializer=tf.ones_initializer())
        return plain_conv(x, filters, "conv") * gain


def wn_conv(x, filters, name, init=False):
    return tf1_wn.conv2d(x, filters, 3, activation=tf.nn.relu, init=init,
                         scope=name)


def wn_conv_recomputed(x, filters, name):
    """`wn_conv` inside `tf1_wn.recompute_kernels()`: the kernel is
    computed again for the gradient instead of kept."""
    with tf1_wn.recompute_kernels():
        return wn_conv(x, filters, name)


def wn_dense(x, units, name, init=False, activation=tf.nn.relu):
    return tf1_wn.dense(x, units, activation=activation, init=init,
                        scope=name)


def conv_net(x, layer, prefix, depth=6, **kwargs):
    for i in range(depth):
        x = layer(x, 64, f"{prefix}/conv{i}", **kwargs)
    return tf.reduce_mean(tf.square(x))


def mlp(x, layer, prefix, **kwargs):
    for i in range(4):
        x = layer(x, 1024, f"{prefix}/fc{i}", **kwargs)
    return tf.reduce_mean(tf.square(x))


def train_op(loss, prefix):
    variables = tf.trainable_variables(prefix)
    return tf.train.AdamOptimizer(1e-4).minimize(loss, var_list=variables)


def step_ratio(shape, net, plain_layer, wn_layer, blocks, steps, threads=2):
    graph = tf.Graph()
    with graph.as_default():
        rng = np.random.default_rng(0)
        x = tf.constant(rng.normal(size=shape).astype(np.float32))
        plain = train_op(net(x, plain_layer, "plain"), "plain")
        wn = train_op(net(x, wn_layer, "wn"), "wn")
        with session(graph, threads) as sess:
            sess.run(tf.global_variables_initializer())
            seconds, quartiles = interleaved_ratios(sess, [plain, wn], steps,
                                                    blocks)
    return seconds, quartiles[1]


def construction_ratio(repeats):
    """Seconds to build 50 conv layers + gradients + Adam: medians for the
    plain, the plain-with-gain and the WN net, interleaved."""
    def build(layer):
        graph = tf.Graph()
        with graph.as_default():
            x = tf.placeholder(tf.float32, [None, 8, 8, 16])
            h = x
            for i in range(50):
                h = layer(h, 16, f"c{i}")
            tf.train.AdamOptimizer(1e-3).minimize(tf.reduce_mean(h))
        return graph

    layers = {"plain": plain_conv, "gain": plain_conv_with_gain,
              "wn": wn_conv}
    for layer in layers.values():
        build(layer)  # first-use costs (op registration, imports)
    times = {name: [] for name in layers}
    for _ in range(repeats):
        for name, layer in layers.items():
            gc.collect()  # as timeit does: no collection inside a timing
            gc.disable()
            start = time.perf_counter()
            build(layer)
            times[name].append(time.perf_counter() - start)
            gc.enable()
    return {name: statistics.median(values) for name, values in times.items()}


def data_init_cost(blocks):
    """Data-init pass (first run and warm runs) over one training step of
    the 32x32 six-layer conv net."""
    graph = tf.Graph()
    with graph.as_default():
        rng = np.random.default_rng(1)
        x = tf.constant(rng.normal(size=(16, 32, 32, 64)).astype(np.float32))
        conv_net(x, wn_conv, "wn", init=True)
        step = train_op(conv_net(x, wn_conv, "wn"), "wn")
        init = tf1_wn.init_op()
        with session(graph) as sess:
            sess.run(tf.global_variables_initializer())
            start = time.perf_counter()
            sess.run(init)
            first = time.perf_counter() - start
            seconds, _ = interleaved_ratios(sess, [step, init], 3, blocks)
    return first / seconds[0], seconds[1] / seconds[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=41,
                        help="interleaved blocks per case (default 41)")
    parser.add_argument("--pin", action="store_true",
                        help="pin to one core with one thread (stable "
                        "figures, as bench_rnn.py)")
    parser.add_argument("--quick", action="store_true",
                        help="few blocks, for a smoke run")
    args = parser.parse_args(argv)
    blocks = 5 if args.quick else args.blocks
    threads = intra_op_threads(args.pin)

    print(f"TensorFlow {tf.VERSION if hasattr(tf, 'VERSION') else ''}, "
          f"blocks={blocks}; ratio = WN step / plain step (median of blocks)")
    cases = [
        ("six 3x3 conv, 64 ch, batch 16, 32x32", (16, 32, 32, 64),
         conv_net, plain_conv, wn_conv, 2, 1.02),
        ("six 3x3 conv, 64 ch, batch 16, 8x8", (16, 8, 8, 64),
         conv_net, plain_conv, wn_conv, 5, 1.03),
        ("  the same, recompute_kernels", (16, 8, 8, 64),
         conv_net, plain_conv, wn_conv_recomputed, 5, 1.03),
        ("MLP 4 x 1024, batch 256", (256, 1024), mlp, plain_dense, wn_dense,
         5, 1.03),
    ]
    print(f"{'case':42s} {'plain ms':>9s} {'WN ms':>9s} {'ratio':>7s} "
          f"{'(IQR)':>13s} {'target':>7s}")
    for name, shape, net, plain, wn, steps, target in cases:
        seconds, (low, ratio, high) = step_ratio(shape, net, plain, wn,
                                                 blocks, steps, threads)
        print(f"{name:42s} {seconds[0] * 1e3:9.2f} {seconds[1] * 1e3:9.2f} "
              f"{ratio:7.3f} ({low:.3f}-{high:.3f}) {target:7.2f}")
        sys.stdout.flush()
    built = construction_ratio(3 if args.quick else 5)
    print(f"{'graph construction, 50 conv + grads + Adam':42s} "
          f"{built['plain'] * 1e3:9.0f} {built['wn'] * 1e3:9.0f} "
          f"{built['wn'] / built['plain']:7.3f} {'':13s} {1.3:7.2f}")
    print(f"  plain conv with one more per-channel variable (a trained "
          f"output scale): {built['gain'] / built['plain']:.3f} of plain")
    first, warm = data_init_cost(blocks)
    print(f"data-init pass / training step (32x32 net): first run "
          f"{first:.2f}x, warm {warm:.2f}x")


if __name__ == "__main__":
    main()
