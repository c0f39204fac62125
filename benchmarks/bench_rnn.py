"""Training-step cost of the weight-normalized cells over plain cells.

For each of RNN, GRU and LSTM: one Adam training step (forward, backward,
update) through `tf.compat.v1.nn.dynamic_rnn`, the WN cell against a plain
cell with the same equations and plain kernel variables, both in one graph
and timed in many short interleaved blocks (`common.interleaved`), wall
and process CPU time, with the process pinned to one core (one intra-op
thread) so the two cells cannot race each other across cores.

    .venv/bin/python benchmarks/bench_rnn.py [--blocks 41]
        [--steps-per-block 2] [--no-pin] [--quick]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved, pin_to_one_core, session, tf  # noqa: E402

import tf1_wn  # noqa: E402


class PlainCell:
    """TF1's BasicRNNCell / GRUCell / BasicLSTMCell equations, plain kernels
    ``[d + n, width]``, the same one-matmul-per-step layout as tf1_wn's."""

    def __init__(self, kind, num_units):
        self.kind, self.n = kind, num_units
        self._vars = None

    @property
    def state_size(self):
        return (self.n, self.n) if self.kind == "lstm" else self.n

    @property
    def output_size(self):
        return self.n

    def zero_state(self, batch_size, dtype):
        return tf.nest.map_structure(
            lambda s: tf.zeros([batch_size, s], dtype), self.state_size)

    def _linear(self, name, x, h, width):
        with tf.variable_scope("plain_" + self.kind, reuse=tf.AUTO_REUSE):
            kernel = tf.get_variable(
                name + "_kernel", [x.shape[1] + self.n, width],
                initializer=tf.random_normal_initializer(0.0, 0.05))
            bias = tf.get_variable(name + "_bias", [width],
                                   initializer=tf.zeros_initializer())
        return tf.nn.bias_add(tf.matmul(tf.concat([x, h], 1), kernel), bias)

    def __call__(self, x, state, scope=None):
        n = self.n
        if self.kind == "rnn":
            h = tf.tanh(self._linear("k", x, state, n))
            return h, h
        if self.kind == "gru":
            r, u = tf.split(tf.sigmoid(self._linear("gates", x, state, 2 * n)),
                            2, 1)
            c = tf.tanh(self._linear("candidate", x, r * state, n))
            h = u * state + (1 - u) * c
            return h, h
        c, h = state
        i, j, f, o = tf.split(self._linear("k", x, h, 4 * n), 4, 1)
        c = tf.sigmoid(f + 1.0) * c + tf.sigmoid(i) * tf.tanh(j)
        h = tf.tanh(c) * tf.sigmoid(o)
        return h, (c, h)


WN_CELLS = {"rnn": tf1_wn.WeightNormRNNCell, "gru": tf1_wn.WeightNormGRUCell,
            "lstm": tf1_wn.WeightNormLSTMCell}


def train_op(cell, inputs, target, scope):
    outputs, _ = tf.nn.dynamic_rnn(cell, inputs, dtype=tf.float32,
                                   scope=scope)
    loss = tf.reduce_mean(tf.square(outputs[:, -1] - target))
    variables = tf.trainable_variables(scope)
    return tf.train.AdamOptimizer(1e-3, name="adam_" + scope).minimize(
        loss, var_list=variables)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--time", type=int, default=50)
    parser.add_argument("--inputs", type=int, default=128)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--blocks", type=int, default=41)
    parser.add_argument("--steps-per-block", type=int, default=2)
    parser.add_argument("--cells", default="rnn,gru,lstm")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the process to one core")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only proves the code runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.blocks, args.steps_per_block, args.time = 3, 1, 5
    core = None if args.no_pin else pin_to_one_core()
    threads = 1 if core is not None else 2

    rng = np.random.default_rng(0)
    print(f"batch {args.batch}, {args.time} steps, {args.inputs} inputs, "
          f"{args.units} units; {args.blocks} interleaved blocks of "
          f"{args.steps_per_block} training steps (Adam); "
          + (f"pinned to core {core}, 1 thread" if core is not None
             else "not pinned, 2 threads"))
    print("| cell | plain ms | WN ms | WN / plain, wall (IQR) | "
          "WN / plain, CPU (IQR) |")
    print("|---|---|---|---|---|")
    for kind in args.cells.split(","):
        with tf.Graph().as_default() as graph:
            inputs = tf.constant(rng.normal(
                size=(args.batch, args.time, args.inputs)).astype(np.float32))
            target = tf.constant(rng.normal(
                size=(args.batch, args.units)).astype(np.float32))
            plain = train_op(PlainCell(kind, args.units), inputs, target,
                             "plain")
            wn = train_op(WN_CELLS[kind](args.units), inputs, target, "wn")
            with session(graph, threads=threads) as sess:
                sess.run(tf.global_variables_initializer())
                timing = interleaved(sess, [plain, wn],
                                     args.steps_per_block, args.blocks)
        medians = timing["wall"][0]
        wall, cpu = timing["wall"][1][1], timing["cpu"][1][1]
        print(f"| {kind} | {medians[0] * 1e3:.1f} | {medians[1] * 1e3:.1f} "
              f"| {wall[1]:.3f} ({wall[0]:.3f}-{wall[2]:.3f}) "
              f"| {cpu[1]:.3f} ({cpu[0]:.3f}-{cpu[2]:.3f}) |", flush=True)


if __name__ == "__main__":
    main()
