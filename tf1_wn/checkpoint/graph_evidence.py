"""What the ``.meta`` graph beside a checkpoint says about each kernel.

`tf.train.Saver` writes the training graph next to the checkpoint
(``model.ckpt-1000.meta``).  The op that consumes a kernel in the forward
graph settles its layout: ``Conv2D`` (a forward conv, ``Conv1D`` included:
its kernel reaches ``Conv2D`` through ``ExpandDims``), ``Conv2DBackprop
Input`` / ``Conv3DBackpropInputV2`` (a transposed conv), ``DepthwiseConv2d
Native``, ``MatMul``.  The search follows the kernel's value forward
through reads, casts, the weight-norm arithmetic and the native ops, and
ignores the gradient, optimizer, saver and summary parts of the graph,
where a forward conv's kernel also meets ``Conv2DBackpropInput``.
"""
import collections
import os
import re

from tf1_wn.checkpoint import errors

#: Layer ops -> the role of the kernel: ``forward``, ``transposed``,
#: ``depthwise`` or ``dense``, and the input index the kernel enters at
#: (None: either operand).
LAYER_OPS = {
    "Conv2D": ("forward", 1), "Conv3D": ("forward", 1),
    "Conv2DBackpropInput": ("transposed", 1),
    "Conv3DBackpropInputV2": ("transposed", 1),
    "DepthwiseConv2dNative": ("depthwise", 1),
    "MatMul": ("dense", None), "BatchMatMulV2": ("dense", None),
    "BatchMatMul": ("dense", None),
}

#: Ops whose subgraphs say nothing about the forward model.
_IGNORED_OP_PREFIXES = ("Apply", "ResourceApply", "Assign", "SaveV2",
                        "RestoreV2", "Save", "Restore", "ScalarSummary",
                        "HistogramSummary", "MergeSummary", "VarIsInitialized",
                        "IsVariableInitialized")
_IGNORED_SCOPE = re.compile(r"(^|/)(gradients(_\d+)?|save(_\d+)?|"
                            r"[^/]*[Oo]ptimizer[^/]*|Adam(_\d+)?|"
                            r"Momentum(_\d+)?)(/|$)")
_MAX_HOPS = 12


def meta_path(prefix):
    """The ``.meta`` file `tf.train.Saver` writes beside `prefix`, or None."""
    path = prefix + ".meta"
    return path if os.path.isfile(path) else None


class GraphEvidence:
    """The kernel roles found in one MetaGraph.

    Args:
      path: the ``.meta`` file.

    Raises:
      CheckpointError: an unreadable or corrupt file.
    """

    def __init__(self, path):
        from tf1_wn._tf import tf
        self.path = path
        meta = tf.MetaGraphDef()
        try:
            with open(path, "rb") as f:
                meta.ParseFromString(f.read())
        except Exception as error:  # protobuf's DecodeError and OSError
            raise errors.CheckpointError(
                f"cannot read the graph {path!r} beside the checkpoint "
                f"({type(error).__name__}: {error}); fix or remove it, or "
                "give every layout with --layout") from None
        self.nodes = {node.name: node for node in meta.graph_def.node}
        self.consumers = collections.defaultdict(list)
        for node in meta.graph_def.node:
            for position, source in enumerate(node.input):
                if source.startswith("^"):
                    continue
                self.consumers[source.split(":")[0]].append((node, position))

    def roles(self, variable):
        """The set of roles the kernel `variable` plays in the forward
        graph (empty when the graph does not use it, or lacks it)."""
        return {role for role, _ in self.uses(variable)}

    def uses(self, variable):
        """``{(role, layer op name)}`` of the forward layer ops the kernel
        `variable` reaches."""
        found = set()
        if variable not in self.nodes:
            return found
        frontier, seen = [variable], {variable}
        for _ in range(_MAX_HOPS):
            following = []
            for name in frontier:
                for node, position in self.consumers.get(name, ()):
                    if _ignored(node) or node.name in seen:
                        continue
                    entry = LAYER_OPS.get(node.op)
                    if entry is not None:
                        role, kernel_input = entry
                        if kernel_input is None or position == kernel_input:
                            found.add((role, node.name))
                        continue
                    seen.add(node.name)
                    following.append(node.name)
            if not following:
                break
            frontier = following
        return found


def _ignored(node):
    return (node.op.startswith(_IGNORED_OP_PREFIXES)
            or _IGNORED_SCOPE.search(node.name) is not None)


def load(prefix):
    """`GraphEvidence` of the ``.meta`` beside `prefix`, or None."""
    path = meta_path(prefix)
    return GraphEvidence(path) if path else None
