"""Weight norm over plain layers on a GPU, through a graph session.

The cases of bench_layers (six 3x3 convs, a 4x1024 MLP) and bench_rnn (an
LSTM in ``dynamic_rnn``), built under ``tf.device('/GPU:0')``, so the
layers take the GPU path (composed ops, no transposes), and timed as
everywhere in benchmarks/: both networks in one graph, steps interleaved,
median ratio with its interquartile range.  The conv net also runs in
NCHW, the layout GPUs prefer.  Without a visible GPU it says so and exits 0
(``--on-cpu`` runs the same GPU-path graphs on the CPU with soft
placement: a check that the benchmark runs, not a GPU figure).

    .venv/bin/python benchmarks/bench_gpu.py [--quick] [--on-cpu]
"""
import argparse

import numpy as np

import bench_layers
import bench_rnn
from common import interleaved_ratios, tf

import tf1_wn
from tf1_wn import placement


def _nchw_plain(x, filters, name):
    with tf.variable_scope(name):
        kernel = tf.get_variable(
            "kernel", [3, 3, x.shape[1], filters],
            initializer=tf.random_normal_initializer(0, 0.05))
        bias = tf.get_variable("bias", [filters],
                               initializer=tf.zeros_initializer())
        return tf.nn.relu(tf.nn.bias_add(
            tf.nn.conv2d(x, kernel, 1, "SAME", data_format="NCHW"), bias,
            data_format="NCHW"))


def _nchw_wn(x, filters, name):
    return tf1_wn.conv2d(x, filters, 3, activation=tf.nn.relu,
                         data_format="NCHW", scope=name)


def _ratio(build_plain, build_wn, blocks, steps, soft_placement):
    graph = tf.Graph()
    with graph.as_default(), tf.device("/GPU:0"):
        plain, wn = build_plain(), build_wn()
    config = tf.ConfigProto(allow_soft_placement=soft_placement)
    with tf.Session(graph=graph, config=config) as sess:
        sess.run(tf.variables_initializer(
            graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)))
        return interleaved_ratios(sess, [plain, wn], steps, blocks)


def _layer_case(shape, net, plain_layer, wn_layer):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)

    def build(layer, prefix):
        def make():
            loss = net(tf.constant(x), layer, prefix)
            return bench_layers.train_op(loss, prefix)
        return make
    return build(plain_layer, "plain"), build(wn_layer, "wn")


def _lstm_case(batch, time, units):
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(batch, time, units)).astype(np.float32)
    target = rng.normal(size=(batch, units)).astype(np.float32)

    def make(cell, scope):
        return lambda: bench_rnn.train_op(cell, tf.constant(inputs),
                                          tf.constant(target), scope)
    return (make(bench_rnn.PlainCell("lstm", units), "plain"),
            make(tf1_wn.WeightNormLSTMCell(units), "wn"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--on-cpu", action="store_true",
                        help="run the GPU-path graphs on the CPU")
    args = parser.parse_args(argv)
    if not placement.gpu_visible() and not args.on_cpu:
        print("no GPU visible: nothing to measure (bench_layers.py and "
              "bench_rnn.py measure the CPU)")
        return 0
    blocks, steps = (3, 2) if args.quick else (31, 10)
    cases = [
        ("six 3x3 conv, 64 ch, batch 16, 32x32, NHWC", _layer_case(
            (16, 32, 32, 64), bench_layers.conv_net, bench_layers.plain_conv,
            bench_layers.wn_conv)),
        ("the same in NCHW", _layer_case(
            (16, 64, 32, 32), bench_layers.conv_net, _nchw_plain, _nchw_wn)),
        ("MLP, four 1024-wide layers, batch 256", _layer_case(
            (256, 1024), bench_layers.mlp, bench_layers.plain_dense,
            bench_layers.wn_dense)),
        ("LSTM 256 units, batch 32, 50 steps", _lstm_case(32, 50, 256)),
    ]
    devices = tf.config.list_physical_devices("GPU") or ["CPU (--on-cpu)"]
    print(f"{devices}; {blocks} blocks")
    print("| case | plain ms | WN ms | WN / plain (IQR) |")
    print("|---|---|---|---|")
    for name, (plain, wn) in cases:
        (plain_s, wn_s), quartiles = _ratio(plain, wn, blocks, steps,
                                            soft_placement=args.on_cpu)
        low, mid, high = quartiles[1]
        print(f"| {name} | {plain_s * 1e3:.2f} | {wn_s * 1e3:.2f} | "
              f"{mid:.3f} ({low:.2f}-{high:.2f}) |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
