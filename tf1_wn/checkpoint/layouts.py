"""The layout of each kernel, from evidence, never guessed.

A rank-4 kernel ``[kh, kw, a, b]`` fits a forward conv (``b`` outputs) and a
transposed one (``a`` outputs) alike, so reading it the wrong way gives a
model that restores without error and computes something else.  The kind
comes from, in this order:

1. a layout hint (``--layout REGEX=KIND``): decides outright;
2. the ``.meta`` graph beside the checkpoint: the op that consumes the
   kernel (`graph_evidence`);
3. the per-channel variable beside it: the bias (convert) or g (fold),
   when its size fits exactly one kind;
4. the names: a variable named ``depthwise_*``, a rank-2 kernel, or a layer
   scope saying ``transpose`` / ``deconv`` / ``depthwise``; last, a scope
   saying ``conv`` for a forward convolution.

When two of them disagree, or none applies, the kernel is refused with
`AmbiguousLayoutError`, which names the variable and the ``--layout`` flag.
"""
import collections

from tf1_wn import kernel_kinds
from tf1_wn.checkpoint import errors
from tf1_wn.checkpoint import names

#: One piece of evidence: where it comes from and the kind it says.
Evidence = collections.namedtuple("Evidence", ["source", "kind"])


def role_kind(role, rank):
    """The layer kind of a kernel of `rank` playing `role` in the graph
    (`graph_evidence.LAYER_OPS`), or None when the two do not fit."""
    if role == "transposed":
        return kernel_kinds.default_kind(rank, transposed=True)
    if role == "depthwise":
        return "depthwise_conv2d" if rank == 4 else None
    if role == "dense":
        return "dense" if rank == 2 else None
    return kernel_kinds.default_kind(rank)


def bias_channels(variables, scope):
    """``(size, description)`` of the rank-1 bias of the layer at `scope`,
    the channel evidence `resolve` takes, or None."""
    for base in names.BIAS_NAMES:
        bias = names.join_name(scope, base)
        if bias in variables and len(variables[bias].shape) == 1:
            return int(variables[bias].shape[0]), f"the bias {bias!r}"
    return None


def _graph_evidence(name, shape, graph):
    if graph is None:
        return None
    roles = graph.roles(name)
    if not roles:
        return None
    kinds = {role_kind(role, len(shape)) for role in roles}
    if None in kinds or len(kinds) > 1:
        raise names.ambiguous(name, shape, "the graph %r uses it as %s"
                              % (graph.path, " and ".join(sorted(roles))))
    return Evidence("the graph beside the checkpoint (%s)" % graph.path,
                    kinds.pop())


def _channel_evidence(name, shape, channels):
    """Kinds of this rank whose output-channel count is `channels` (a
    depthwise layout counts too: a ``[kh, kw, c, 1]`` kernel with ``c``
    biases may be a depthwise or a transposed conv)."""
    if channels is None:
        return None
    size, what = channels
    fits = [kind for kind, entry in sorted(kernel_kinds.LAYER_KINDS.items())
            if entry.rank == len(shape)
            and kernel_kinds.num_channels(kind, shape) == size]
    if not fits:
        raise errors.InvalidLayoutError(
            f"{what} has {size} entries, which fits no layout of the kernel "
            f"{name!r} of shape {list(shape)}; give its layout with "
            f"--layout '{name}=KIND'")
    if len(fits) == 1:
        return Evidence(f"{what} ({size} entries)", fits[0])
    return fits  # several: names must choose among them


def _name_evidence(name, shape, trust_depthwise_scope):
    """``(strong Evidence or None, weak Evidence or None, error or None)``."""
    scope, base = names.split_name(name)
    own = scope.rsplit("/", 1)[-1].lower()
    try:
        kind = names.layer_kind(name, shape,
                                trust_depthwise_scope=trust_depthwise_scope)
    except errors.AmbiguousLayoutError as error:
        return None, None, error
    if kind is None:
        return None, None, None
    strong = (base in names.DEPTHWISE_NAMES or len(shape) == 2
              or any(word in own for word in ("transpose", "deconv",
                                              "depthwise")))
    if strong:
        return Evidence(f"its name {name!r}", kind), None, None
    if "conv" in own:
        return None, Evidence(f"its layer scope {own!r}", kind), None
    return None, None, None


def resolve(name, shape, hint=None, graph=None, channels=None,
            trust_depthwise_scope=False):
    """The layer kind of kernel `name`, from the evidence in the module's
    order.

    Args:
      name: the kernel's (or v's) full name.
      shape: its shape.
      hint: the hinted kind, if any.
      graph: a `graph_evidence.GraphEvidence`, or None.
      channels: ``(size, description)`` of the bias or g beside the kernel,
        or None.
      trust_depthwise_scope: see `names.layer_kind`.

    Returns:
      A key of `kernel_kinds.LAYER_KINDS`, or None for a rank no layer has.

    Raises:
      AmbiguousLayoutError: conflicting or missing evidence.
      InvalidLayoutError: a hint or a channel size that fits no layout.
    """
    if hint is not None or len(shape) not in (2, 3, 4, 5):
        return names.layer_kind(name, shape, hint)
    strong, weak, name_error = _name_evidence(name, shape,
                                              trust_depthwise_scope)
    found = [_graph_evidence(name, shape, graph)]
    by_channels = _channel_evidence(name, shape, channels)
    if isinstance(by_channels, list):
        # Several kinds fit the channel count: the names choose among them.
        for named in (strong, weak):
            if named is not None and named.kind not in by_channels:
                raise _conflict(name, shape, [named, Evidence(
                    f"{channels[1]} ({channels[0]} entries)",
                    " or ".join(by_channels))])
        by_channels = None
    found += [by_channels, strong]
    found = [e for e in found if e is not None]
    kinds = {e.kind for e in found}
    if len(kinds) > 1:
        raise _conflict(name, shape, found)
    if kinds:
        return kinds.pop()
    if name_error is not None:
        raise name_error
    if weak is not None:
        return weak.kind
    raise names.ambiguous(
        name, shape, "nothing tells its layout: no .meta graph beside the "
        "checkpoint uses it, no bias or g beside it has a size only one "
        "layout fits, and its scope names no layer kind")


def _conflict(name, shape, found):
    return names.ambiguous(name, shape, "the evidence disagrees: " + "; ".join(
        f"{e.source} says {e.kind}" for e in found))
