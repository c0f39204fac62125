"""Per-op time of the weight-norm kernel passes on one and two threads.

The dense layers' `Tf1WnNormFactor` (one read of `v`) and
`Tf1WnScaledProductGrad` (reads `P` and `v`, writes `dv`) on [1024, 1024]
float32 kernels, and the conv layers' `Tf1WnNormalizeWeight`,
`Tf1WnStandardizeWeight` (variant 'paper') and their gradients on
[3, 3, 128, 1024] ones: eight ops of a kind chained over eight
distinct variables (32-38 MB, more than this machine's L3 cache, so each
op reads from memory, as in a training step after Adam), milliseconds per
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
CONV_KERNEL = (3, 3, 128, 1024)
OPS = ("Tf1WnNormFactor", "Tf1WnScaledProductGrad", "Tf1WnNormalizeWeight",
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
    conv_directions = [variable(CONV_KERNEL) for _ in range(KERNELS)]
    conv_grads = [variable(CONV_KERNEL) for _ in range(KERNELS)]
    gain = tf.constant(rng.uniform(0.5, 1.5, UNITS).astype(np.float32))
    eps = tf.constant(1e-12, tf.float32)
    chains = {name: [] for name in OPS}
    for v, p in zip(directions, products):
        with tf.control_dependencies(chains[OPS[0]][-1:]):
            factor, inverse = library.tf1_wn_norm_factor(
                v, gain, eps, channels_begin=1, channels_end=2)
        chains[OPS[0]].append(factor.op)
        with tf.control_dependencies(chains[OPS[1]][-1:]):
            # P is a variable's value: the op writes a new buffer, as when
            # another op still holds the matmul's result.
            grad, _ = library.tf1_wn_scaled_product_grad(
                p.read_value(), v, gain, inverse, factor,
                channels_begin=1, channels_end=2)
        chains[OPS[1]].append(grad.op)
    for v, upstream in zip(conv_directions, conv_grads):
        with tf.control_dependencies(chains[OPS[2]][-1:]):
            weight, inverse = library.tf1_wn_normalize_weight(
                v, gain, eps, channels_begin=3, channels_end=4)
        chains[OPS[2]].append(weight.op)
        with tf.control_dependencies(chains[OPS[3]][-1:]):
            grad, _ = library.tf1_wn_normalize_weight_grad(
                upstream.read_value(), v, gain, inverse,
                channels_begin=3, channels_end=4)
        chains[OPS[3]].append(grad.op)
        paper = dict(channels_begin=3, channels_end=4, unbiased=True)
        with tf.control_dependencies(chains[OPS[4]][-1:]):
            standardized, mean, inverse_scale, variance_factor = \
                library.tf1_wn_standardize_weight(
                    v, gain, tf.constant(1e-5, tf.float32), eps_in_var=False,
                    **paper)
        chains[OPS[4]].append(standardized.op)
        with tf.control_dependencies(chains[OPS[5]][-1:]):
            grad, _ = library.tf1_wn_standardize_weight_grad(
                upstream.read_value(), v, gain, mean, inverse_scale,
                variance_factor, **paper)
        chains[OPS[5]].append(grad.op)
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
    print(f"[{UNITS}, {UNITS}] and {list(CONV_KERNEL)} float32, "
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
