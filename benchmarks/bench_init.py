"""The data-init pass at scale: one init over N towers against one step.

The model is the 32x32 conv net of bench_layers (six 3x3 convs, 64
channels), built as a `make_template` with N towers on N CPU devices
(``device_count``): the training step computes each tower's gradients and
applies their sum with Adam; the init pass is `tf1_wn.build_towers` in
init mode, its statistics pooled over the towers.  Both run on the same
global batch, interleaved; the figure is init time / step time.

    .venv/bin/python benchmarks/bench_init.py [--quick]

The cluster figure (1 ps + 2 workers, each a process) is the wall time of
tests/distributed/test_cluster.py, which benchmarks/README.md records.
"""
import argparse

import numpy as np

import common
from common import tf

import tf1_wn


def conv_net(x, init=False):
    h = x
    for index in range(6):
        h = tf1_wn.conv2d(h, 64, 3, activation=tf.nn.relu, init=init,
                          scope=f"conv{index}")
    return tf.reduce_mean(h, [1, 2])


def measure(towers, batch, size, blocks, steps):
    graph = tf.Graph()
    with graph.as_default():
        model = tf.make_template("net", conv_net)
        x = tf.constant(np.random.RandomState(0).normal(
            size=(batch, size, size, 3)).astype(np.float32))
        devices = [f"/cpu:{k}" for k in range(towers)]
        parts = tf.split(x, towers)
        init_outputs = tf1_wn.build_towers(
            lambda part: model(part, init=True), parts, devices=devices)
        init = tf.group(tf1_wn.init_op(), *init_outputs)
        params = None
        grads = []
        for part, device in zip(parts, devices):
            with tf.device(device):
                loss = tf.reduce_mean(tf.square(model(part)))
                params = params or tf.trainable_variables()
                grads.append(tf.gradients(loss, params))
        total = [tf.add_n(list(g)) for g in zip(*grads)]
        step = tf.train.AdamOptimizer(1e-3).apply_gradients(
            list(zip(total, params)))
        config = tf.ConfigProto(device_count={"CPU": towers},
                                intra_op_parallelism_threads=2,
                                inter_op_parallelism_threads=2)
        with tf.Session(graph=graph, config=config) as sess:
            sess.run(tf.global_variables_initializer())
            medians, ratios = common.interleaved_ratios(
                sess, [step, init], steps, blocks)
    return medians, ratios[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only proves the code runs")
    args = parser.parse_args()
    blocks, steps, batch, size = (3, 1, 8, 8) if args.quick else (
        15, 2, 16, 32)
    print(f"global batch {batch}, {size}x{size}, six 3x3 convs of 64 "
          f"channels; {blocks} blocks")
    print("| towers | step ms | init ms | init / step (IQR) |")
    print("|---|---|---|---|")
    for towers in (1, 2, 4):
        (step_s, init_s), (low, mid, high) = measure(towers, batch, size,
                                                     blocks, steps)
        print(f"| {towers} | {step_s * 1e3:.1f} | {init_s * 1e3:.1f} | "
              f"{mid:.2f} ({low:.2f}-{high:.2f}) |", flush=True)


if __name__ == "__main__":
    main()
