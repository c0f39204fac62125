"""Where a weight-normalized training step spends its time, kernel by kernel.

The 4 x 1024 MLP of `bench_layers.py` (batch 256, ReLU, Adam) or, with
``--model pixelcnn``, the PixelCNN++-shaped net of `bench_models.py` at its
defaults; plain and weight-normalized in one graph, each step traced with
TensorFlow's step stats.  With one inter-op thread the ops of a step run
one after another, so each kernel's summed time is what it adds to the
step; the WN net's extra over plain is read off the rows.  Also printed: the
median traced span of a step, first kernel's start to last kernel's end
(not interleaved: `bench_layers.py` and `bench_models.py` give the
ratios).

    python benchmarks/bench_op_breakdown.py [--model mlp|pixelcnn] [--pin]
        [--traces N] [--quick]

``--pin``: one core, one intra-op thread (as `bench_layers.py --pin`);
else two intra-op threads.
"""
import argparse
import collections
import statistics

import numpy as np

import bench_layers
import bench_models
from common import intra_op_threads, tf


def mlp_losses():
    """``{name: loss}`` of the plain and the WN MLP."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(256, 1024)).astype(np.float32))
    return {name: bench_layers.mlp(x, layer, name)
            for name, layer in (("plain", bench_layers.plain_dense),
                                ("wn", bench_layers.wn_dense))}


def pixelcnn_losses():
    """``{name: loss}`` of the plain and the WN PixelCNN++-shaped net
    (16x16, 32 filters, 2 resnets per scale, batch 8)."""
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 256, size=(8, 16, 16, 3))
    x = tf.constant(((levels - 127.5) / 127.5).astype(np.float32))
    kinds = {"plain": bench_models.PlainLayers(),
             "wn": bench_models.WeightNormLayers()}
    return {name: tf.make_template(
                name, lambda x, layers=layers: bench_models.pixelcnn_model(
                    layers, x, 32, 2))(x)
            for name, layers in kinds.items()}


MODELS = {"mlp": mlp_losses, "pixelcnn": pixelcnn_losses}


def kernel_times(sess, op, traces):
    """Kernel times of `traces` traced runs of `op`.

    Returns:
      ``(times, span, nodes)``: ``{kernel: mean microseconds per step}``
      (see `kernel_type`), the median microseconds from the first
      kernel's start to the last one's end, and the nodes a step runs.
    """
    totals = collections.Counter()
    spans = []
    for _ in range(traces):
        metadata = tf.RunMetadata()
        sess.run(op, options=tf.RunOptions(
            trace_level=tf.RunOptions.FULL_TRACE), run_metadata=metadata)
        nodes = [node for device in metadata.step_stats.dev_stats
                 for node in device.node_stats]
        for node in nodes:
            totals[kernel_type(node)] += node.op_end_rel_micros / traces
        spans.append(max(node.all_start_micros + node.all_end_rel_micros
                         for node in nodes)
                     - min(node.all_start_micros for node in nodes))
    return totals, statistics.median(spans), len(nodes)


def kernel_type(node):
    """The kernel a traced node ran, from its label ``name = Type(...)``:
    after TensorFlow's graph rewrites (a plain layer's MatMul, BiasAdd and
    Relu run as one fused kernel under the Relu's name), not the op type
    the graph was built with."""
    label = node.timeline_label
    if " = " not in label:
        return node.node_name
    return label.split(" = ", 1)[1].split("(", 1)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--pin", action="store_true",
                        help="one core, one intra-op thread")
    parser.add_argument("--traces", type=int, default=20,
                        help="traced steps per net (default 20)")
    parser.add_argument("--quick", action="store_true",
                        help="two traces, for a smoke run")
    args = parser.parse_args(argv)
    traces = 2 if args.quick else args.traces
    threads = intra_op_threads(args.pin)
    graph = tf.Graph()
    with graph.as_default():
        nets = {name: bench_layers.train_op(loss, name)
                for name, loss in MODELS[args.model]().items()}
        config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                                inter_op_parallelism_threads=1)
        with tf.Session(graph=graph, config=config) as sess:
            sess.run(tf.global_variables_initializer())
            for op in nets.values():
                for _ in range(1 if args.quick else 10):  # warm up
                    sess.run(op)
            traced = {name: kernel_times(sess, op, traces)
                      for name, op in nets.items()}
    times = {name: result[0] for name, result in traced.items()}
    print(f"{threads} intra-op thread(s), 1 inter-op; traced span of a "
          f"step (median): plain {traced['plain'][1] / 1e3:.2f} ms, WN "
          f"{traced['wn'][1] / 1e3:.2f} ms; nodes run per step: plain "
          f"{traced['plain'][2]}, WN {traced['wn'][2]}")
    print(f"{'kernel':32s} {'plain ms':>9s} {'WN ms':>9s} {'WN - plain':>11s}")
    kinds = sorted(set(times["plain"]) | set(times["wn"]),
                   key=lambda kind: -max(times["plain"][kind],
                                         times["wn"][kind]))
    for kind in kinds:
        plain, wn = times["plain"][kind] / 1e3, times["wn"][kind] / 1e3
        if max(plain, wn) >= 0.01:
            print(f"{kind:32s} {plain:9.3f} {wn:9.3f} {wn - plain:+11.3f}")
    plain = sum(times["plain"].values()) / 1e3
    wn = sum(times["wn"].values()) / 1e3
    print(f"{'all ops':32s} {plain:9.3f} {wn:9.3f} {wn - plain:+11.3f}")


if __name__ == "__main__":
    main()
