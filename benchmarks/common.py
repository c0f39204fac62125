"""Timing helpers shared by the benchmarks: interleaved blocks, medians."""
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_eager_execution()


def session(graph, threads=2):
    """A session with `threads` intra-op threads (this machine has 2 cores)."""
    config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=threads)
    return tf.Session(graph=graph, config=config)


def interleaved_ratios(sess, ops, steps_per_block, blocks, warmup=3):
    """Times each op in `ops` in alternating blocks.

    Short blocks and many of them: this shared 2-core machine drifts by
    tens of percent over seconds, and a ratio taken within one block pair
    cancels most of it.

    Args:
      sess: the session.
      ops: list of fetches; ops[0] is the baseline.
      steps_per_block: session.run calls per op per block.
      blocks: number of blocks (the order alternates every block).
      warmup: untimed runs of each op first.

    Returns:
      ``(medians, ratio_quartiles)``: median seconds per step of each op,
      and for each op the (25th, 50th, 75th) percentiles over blocks of
      op_i / op_0.
    """
    for op in ops:
        for _ in range(warmup):
            sess.run(op)
    per_op = [[] for _ in ops]
    ratios = [[] for _ in ops]
    order = list(range(len(ops)))
    for block in range(blocks):
        times = [0.0] * len(ops)
        for index in (order if block % 2 == 0 else order[::-1]):
            start = time.perf_counter()
            for _ in range(steps_per_block):
                sess.run(ops[index])
            times[index] = (time.perf_counter() - start) / steps_per_block
        for index, seconds in enumerate(times):
            per_op[index].append(seconds)
            ratios[index].append(seconds / times[0])
    return ([statistics.median(t) for t in per_op],
            [tuple(statistics.quantiles(r, n=4)) if len(r) > 1
             else (r[0],) * 3 for r in ratios])
