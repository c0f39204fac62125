"""``tf1-wn convert --verify``: does the converted checkpoint compute what
the original did?

The ``.meta`` graph beside the source checkpoint is imported twice.  The
first copy restores the source.  In the second, every converted kernel is
replaced by what a tf1-wn layer computes from the written ``v`` and ``g``:
``g * v / sqrt(sum(v**2) + eps)``, with its norm taken over the axes that
the op consuming the kernel in the graph implies.  It does not use the
plan's choice, so a wrong layout hint shows.  Both copies run on the same
random inputs, and the result is the largest difference of every layer op
that reads a converted kernel.
"""
import collections

import numpy as np

from tf1_wn import variable_names as vn
from tf1_wn.checkpoint import errors
from tf1_wn.checkpoint import graph_evidence
from tf1_wn.checkpoint import kernel_math
from tf1_wn.checkpoint import layouts
from tf1_wn.checkpoint.plan import join, split
from tf1_wn.normalization import DEFAULT_EPS

#: One compared output: the layer op, its largest absolute difference and
#: that difference over the op's largest magnitude in the original graph.
Difference = collections.namedtuple("Difference",
                                    ["op", "max_abs", "relative"])

#: Relative difference above which the conversion is reported as wrong.
TOLERANCE = 1e-4
_RUN_TIMEOUT_MS = 120000


def _rebuilt_kernels(plan, output_prefix, graph):
    """``{kernel name: array}`` as tf1-wn layers compute them from the
    written checkpoint, and ``{kernel name: layer op names}``."""
    from tf1_wn._tf import tf
    reader = tf.train.load_checkpoint(output_prefix)
    kernels, ops = {}, {}
    for step in plan.steps:
        if step.action not in ("convert", "convert_cell"):
            continue
        name = step.sources[0]
        uses = graph.uses(name)  # empty for moving averages and slots
        roles = {role for role, _ in uses}
        if len(roles) != 1:
            continue
        scope, _ = split(name)
        if step.action == "convert_cell":
            xv, xg, hv, hg = (reader.get_tensor(join(scope, p))
                              for p in vn.CELL_PARTS)
            kernels[name] = np.concatenate([
                kernel_math.fold_weight_norm(xv, xg, "dense", DEFAULT_EPS),
                kernel_math.fold_weight_norm(hv, hg, "dense", DEFAULT_EPS)],
                axis=0)
        else:
            v = reader.get_tensor(join(scope, vn.DIRECTION))
            kernels[name] = kernel_math.fold_weight_norm(
                v, reader.get_tensor(join(scope, vn.GAIN)),
                layouts.role_kind(roles.pop(), v.ndim), DEFAULT_EPS)
        ops[name] = sorted(op for _, op in uses)
    return kernels, ops


def _feeds(graph, rng):
    """Random values for every placeholder (None dimensions: 2)."""
    from tf1_wn._tf import tf
    feeds = {}
    for op in graph.get_operations():
        if op.type != "Placeholder":  # PlaceholderWithDefault keeps its own
            continue
        tensor = op.outputs[0]
        if tensor.shape.ndims is None:
            raise errors.CheckpointError(
                f"--verify: placeholder {op.name!r} has no known rank; "
                "cannot make an input for it")
        shape = [2 if d is None else d for d in tensor.shape.as_list()]
        dtype = tensor.dtype.base_dtype
        if dtype.is_floating:
            value = rng.normal(size=shape).astype(dtype.as_numpy_dtype)
        elif dtype == tf.bool:
            value = np.zeros(shape, bool)
        else:
            value = np.zeros(shape, dtype.as_numpy_dtype)
        feeds[tensor.name] = value
    return feeds


def _run(meta_path, source_prefix, overrides, fetch_ops, feeds):
    """The fetched values of one copy of the graph, and the feeds used
    (made from this copy's placeholders when `feeds` is None)."""
    from tf1_wn._tf import tf
    with tf.Graph().as_default() as graph:
        saver = tf.train.import_meta_graph(meta_path, clear_devices=True)
        if feeds is None:
            feeds = _feeds(graph, np.random.RandomState(0))
        fetches = [graph.get_operation_by_name(op).outputs[0]
                   for op in fetch_ops]
        options = tf.RunOptions(timeout_in_ms=_RUN_TIMEOUT_MS)
        with tf.Session() as sess:
            if saver is None:
                saver = tf.train.Saver()
            saver.restore(sess, source_prefix)
            variables = {v.op.name: v for v in tf.global_variables()}
            for name, value in overrides.items():
                variables[name].load(value, sess)
            return sess.run(fetches, feeds, options=options), feeds


def verify_conversion(source_prefix, output_prefix, plan, graph=None):
    """Runs the original and the converted model; see the module docstring.

    Args:
      source_prefix: the plain checkpoint.
      output_prefix: the converted checkpoint `plan` wrote.
      plan: the `Plan` of the conversion.
      graph: the `graph_evidence.GraphEvidence` of the source's ``.meta``
        (read here when None).

    Returns:
      A list of `Difference`, one per layer op reading a converted kernel.

    Raises:
      CheckpointError: no ``.meta`` graph, or a graph that cannot run.
    """
    from tf1_wn._tf import tf
    path = graph_evidence.meta_path(source_prefix)
    if path is None:
        raise errors.CheckpointError(
            f"--verify needs the graph {source_prefix + '.meta'!r} that "
            "tf.train.Saver writes beside the checkpoint; it is missing")
    graph = graph or graph_evidence.GraphEvidence(path)
    kernels, ops = _rebuilt_kernels(plan, output_prefix, graph)
    fetch_ops = sorted({op for names in ops.values() for op in names})
    if not fetch_ops:
        return []
    try:
        original, feeds = _run(path, source_prefix, {}, fetch_ops, None)
        converted, _ = _run(path, source_prefix, kernels, fetch_ops, feeds)
    except tf.errors.OpError as error:
        raise errors.CheckpointError(
            f"--verify could not run the graph {path!r}: "
            f"{error.message.splitlines()[0]}") from None
    out = []
    for op, a, b in zip(fetch_ops, original, converted):
        max_abs = float(np.abs(np.asarray(a, np.float64) - b).max())
        scale = float(np.abs(a).max()) or 1.0
        out.append(Difference(op, max_abs, max_abs / scale))
    return out
