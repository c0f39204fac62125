"""Timing and memory helpers shared by the benchmarks: interleaved blocks,
medians, the peak bytes of a step."""
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


def pin_to_one_core():
    """Pins this process (TensorFlow's threads included) to one core where
    the OS allows it; returns the core, or None.

    On one core the two networks of a comparison cannot race each other or
    the benchmark's own threads across cores, which removes most of the
    run-to-run spread of small recurrent steps.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def intra_op_threads(pin):
    """The intra-op thread count of a benchmark's sessions: 2 (this
    machine's cores), or 1 after pinning the process to one core when
    `pin` is set and the OS allows it.  Says which on stdout."""
    if not pin:
        return 2
    core = pin_to_one_core()
    print("pinned to core", core, "1 thread" if core is not None
          else "(not possible here: 2 threads)")
    return 1 if core is not None else 2


def _quartiles(values):
    if len(values) > 1:
        return tuple(statistics.quantiles(values, n=4))
    return (values[0],) * 3


def interleaved(sess, ops, steps_per_block, blocks, warmup=3):
    """Times each op in `ops` in alternating blocks, wall and CPU time.

    Args:
      sess, ops, steps_per_block, blocks, warmup: as `interleaved_ratios`.

    Returns:
      A dict: ``wall`` and ``cpu``, each ``(medians, ratio_quartiles)`` as
      `interleaved_ratios` returns (CPU time is the process's, all of
      TensorFlow's threads).
    """
    for op in ops:
        for _ in range(warmup):
            sess.run(op)
    seconds = {"wall": [[] for _ in ops], "cpu": [[] for _ in ops]}
    ratios = {"wall": [[] for _ in ops], "cpu": [[] for _ in ops]}
    order = list(range(len(ops)))
    for block in range(blocks):
        times = {"wall": [0.0] * len(ops), "cpu": [0.0] * len(ops)}
        for index in (order if block % 2 == 0 else order[::-1]):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps_per_block):
                sess.run(ops[index])
            times["wall"][index] = (time.perf_counter() - wall) / \
                steps_per_block
            times["cpu"][index] = (time.process_time() - cpu) / \
                steps_per_block
        for clock in ("wall", "cpu"):
            for index, value in enumerate(times[clock]):
                seconds[clock][index].append(value)
                ratios[clock][index].append(value / times[clock][0])
    return {clock: ([statistics.median(t) for t in seconds[clock]],
                    [_quartiles(r) for r in ratios[clock]])
            for clock in ("wall", "cpu")}


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
    return interleaved(sess, ops, steps_per_block, blocks, warmup)["wall"]


def peak_bytes(sess, op):
    """Peak bytes of the tensors one run of `op` allocates (activations,
    gradients, temporaries; not the variables), from the allocation
    records of TensorFlow's step stats, replayed in time order."""
    metadata = tf.RunMetadata()
    sess.run(op, options=tf.RunOptions(
        trace_level=tf.RunOptions.FULL_TRACE), run_metadata=metadata)
    records = sorted(
        (record.alloc_micros, record.alloc_bytes)
        for device in metadata.step_stats.dev_stats
        for node in device.node_stats for memory in node.memory
        for record in memory.allocation_records)
    live = peak = 0
    for _, change in records:
        live += change
        peak = max(peak, live)
    return peak
