"""Per-op time of the weight-norm kernel passes on one and two threads.

The dense layers' `Tf1WnNormFactor` (one read of `v`) and
`Tf1WnScaledProductGrad` (reads `P` and `v`, writes `dv`) on [1024, 1024]
float32 kernels, their output ops `Tf1WnScaleColumns` and its gradient
on [2048, 1024] outputs (a batch of 2048), and the conv layers'
`Tf1WnNormalizeWeight`, `Tf1WnStandardizeWeight` (variant 'paper') and
their gradients on [3, 3, 128, 1024] kernels: eight ops of a kind chained
over eight distinct variables (32-64 MB, more than this machine's L3
cache, so each op reads from memory, as in a training step), milliseconds per
op, the median over runs.  A process's
intra-op pool is sized by its first session, so each thread count runs in
its own process; the processes alternate for `--rounds` rounds.

    .venv/bin/python benchmarks/bench_native_ops.py [--rounds 3] [--quick]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

KERNELS = 8
UNITS = 1024
OUTPUT_ROWS = 2048
CONV_KERNEL = (3, 3, 128, 1024)
OPS = ("Tf1WnNormFactor", "Tf1WnScaledProductGrad", "Tf1WnScaleColumns",
       "Tf1WnScaleColumnsGrad", "Tf1WnNormalizeWeight",
       "Tf1WnNormalizeWeightGrad", "Tf1WnStandardizeWeight",
       "Tf1WnStandardizeWeightGrad")


def measure(threads, runs):
    """Milliseconds per op for each of `OPS`, in this process."""
    import numpy as np
    from common import tf
    from tf1_wn import native_ops

    library = native_ops.load()
    rng = np.random.default_rng(0)

    def variable(shape=(UNITS, UNITS)):
        return tf.Variable(rng.normal(size=shape).astype(np.float32))

    directions = [variable() for _ in range(KERNELS)]
    products = [variable() for _ in range(KERNELS)]
    matmul_outputs = [variable((OUTPUT_ROWS, UNITS)) for _ in range(KERNELS)]
    output_grads = [variable((OUTPUT_ROWS, UNITS)) for _ in range(KERNELS)]
    conv_directions = [variable(CONV_KERNEL) for _ in range(KERNELS)]
    conv_grads = [variable(CONV_KERNEL) for _ in range(KERNELS)]
    gain = tf.constant(rng.uniform(0.5, 1.5, UNITS).astype(np.float32))
    eps = tf.constant(1e-12, tf.float32)
    chains = {name: [] for name in OPS}

    def chain(name, make):
        """Runs make() after the previous op of `name`; its outputs."""
        with tf.control_dependencies(chains[name][-1:]):
            outputs = make()
        chains[name].append(outputs[0].op)
        return outputs

    # Upstream gradients and matmul products are variables' values: the
    # gradient ops write a new buffer, as when another op still holds the
    # upstream one.
    for v, p in zip(directions, products):
        factor, inverse = chain("Tf1WnNormFactor", lambda: (
            library.tf1_wn_norm_factor(v, gain, eps, channels_begin=1,
                                       channels_end=2)))
        chain("Tf1WnScaledProductGrad", lambda: (
            library.tf1_wn_scaled_product_grad(
                p.read_value(), v, gain, inverse, factor, channels_begin=1,
                channels_end=2)))
    bias = tf.constant(rng.normal(size=UNITS).astype(np.float32))
    for h, upstream in zip(matmul_outputs, output_grads):
        chain("Tf1WnScaleColumns", lambda: (
            library.tf1_wn_scale_columns(h.read_value(), gain, [bias]),))
        chain("Tf1WnScaleColumnsGrad", lambda: (
            library.tf1_wn_scale_columns_grad(upstream.read_value(), h,
                                              gain)))
    paper = dict(channels_begin=3, channels_end=4, unbiased=True)
    for v, upstream in zip(conv_directions, conv_grads):
        _, inverse = chain("Tf1WnNormalizeWeight", lambda: (
            library.tf1_wn_normalize_weight(v, gain, eps, channels_begin=3,
                                            channels_end=4)))
        chain("Tf1WnNormalizeWeightGrad", lambda: (
            library.tf1_wn_normalize_weight_grad(
                upstream.read_value(), v, gain, inverse, channels_begin=3,
                channels_end=4)))
        _, mean, inverse_scale, variance_factor = chain(
            "Tf1WnStandardizeWeight", lambda: (
                library.tf1_wn_standardize_weight(
                    v, gain, tf.constant(1e-5, tf.float32),
                    eps_in_var=False, **paper)))
        chain("Tf1WnStandardizeWeightGrad", lambda: (
            library.tf1_wn_standardize_weight_grad(
                upstream.read_value(), v, gain, mean, inverse_scale,
                variance_factor, **paper)))
    config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=1)
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        results = {}
        for name, ops in chains.items():
            sess.run(ops)
            seconds = []
            for _ in range(runs):
                start = time.perf_counter()
                sess.run(ops)
                seconds.append(time.perf_counter() - start)
            results[name] = statistics.median(seconds) * 1e3 / KERNELS
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating processes per thread count")
    parser.add_argument("--runs", type=int, default=40,
                        help="timed runs per process")
    parser.add_argument("--quick", action="store_true",
                        help="one round of few runs, for a smoke run")
    parser.add_argument("--child", type=int, metavar="THREADS",
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.runs)))
        return
    rounds, runs = (1, 3) if args.quick else (args.rounds, args.runs)
    figures = {threads: {name: [] for name in OPS} for threads in (1, 2)}
    for _ in range(rounds):
        for threads in figures:
            output = subprocess.run(
                [sys.executable, os.path.abspath(__file__),
                 "--child", str(threads), "--runs", str(runs)],
                check=True, capture_output=True, text=True).stdout
            for name, value in json.loads(output.splitlines()[-1]).items():
                figures[threads][name].append(value)
    print(f"[{UNITS}, {UNITS}], [{OUTPUT_ROWS}, {UNITS}] and "
          f"{list(CONV_KERNEL)} float32, "
          f"{KERNELS} chained ops per run, "
          f"{runs} runs x {rounds} processes; ms per op (range)")
    print(f"{'op':26s} {'1 thread':>20s} {'2 threads':>20s}")
    for name in OPS:
        cells = []
        for threads in (1, 2):
            values = figures[threads][name]
            cells.append(f"{statistics.median(values):.3f} "
                         f"({min(values):.2f}-{max(values):.2f})")
        print(f"{name:26s} {cells[0]:>20s} {cells[1]:>20s}")


if __name__ == "__main__":
    main()
