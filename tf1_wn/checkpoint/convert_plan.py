"""The plan of `convert`: plain kernels -> weight-normalized ``v``, ``g``.

``<scope>/kernel`` (or tf_slim's ``weights``) becomes ``<scope>/v`` (the
kernel, unchanged) and ``<scope>/g`` (its per-output-channel L2 norm); a TF1
cell kernel ``[d + n, k * n]`` becomes ``input/v``, ``input/g``,
``recurrent/v``, ``recurrent/g``; ``biases`` becomes ``bias``.  Moving
averages are converted alike, other slots dropped or kept (`plan`).
"""
from tf1_wn import kernel_kinds
from tf1_wn import variable_names as vn
from tf1_wn.checkpoint import errors
from tf1_wn.checkpoint import kernel_math
from tf1_wn.checkpoint import layouts
from tf1_wn.checkpoint import names as names_mod
from tf1_wn.checkpoint.plan import Builder, join, plan_bias_rename, split
from tf1_wn.errors import LayoutError

#: Variables beside a TF1 cell kernel that tf1_wn cells have no place for.
_UNSUPPORTED_CELL_SIBLINGS = ("recurrent_kernel", "w_f_diag", "w_i_diag",
                              "w_o_diag", "projection/kernel")
_POINTWISE_NAMES = ("pointwise_weights", "pointwise_kernel")


def _convert_layer(kind, eps):
    def compute(arrays):
        kernel = arrays[0]
        return [kernel, kernel_math.kernel_norm(kernel, kind, eps)]
    return compute


def _convert_cell(d, eps):
    def compute(arrays):
        kernel = arrays[0]
        x_part, h_part = kernel[:d], kernel[d:]
        return [x_part, kernel_math.kernel_norm(x_part, "dense", eps),
                h_part, kernel_math.kernel_norm(h_part, "dense", eps)]
    return compute


def _cell_step(b, name, scope, shape, cell_kind, eps):
    """``(action, targets, compute, kind, note)`` of a TF1 cell kernel."""
    for sibling in _UNSUPPORTED_CELL_SIBLINGS:
        if join(scope, sibling) in b.variables:
            raise errors.UnsupportedVariableError(
                f"cell kernel {name!r} has a sibling "
                f"{join(scope, sibling)!r}: Keras-style recurrent kernels, "
                "peepholes and projections have no tf1_wn cell counterpart; "
                f"leave the cell out with --exclude {scope!r}")
    try:
        d, n = kernel_kinds.cell_split(shape, cell_kind)
    except LayoutError as error:
        raise errors.InvalidLayoutError(f"{name!r}: {error}") from None
    targets = [join(scope, part) for part in vn.CELL_PARTS]
    return ("convert_cell", targets, _convert_cell(d, eps), cell_kind,
            f"d={d}, n={n}")


def _layer_step(b, name, scope, shape, hint, eps):
    """``(action, targets, compute, kind, note)`` of a layer kernel, or None
    for a variable of a rank no layer has (with a warning)."""
    kind = layouts.resolve(name, shape, hint, graph=b.graph,
                           channels=layouts.bias_channels(b.variables,
                                                          scope))
    if kind is None:
        b.warnings.append(f"{name!r} has rank {len(shape)}: not a layer "
                          "kernel, copied unchanged")
        return None
    for pointwise in _POINTWISE_NAMES:
        if join(scope, pointwise) in b.variables:
            raise errors.UnsupportedVariableError(
                f"{name!r} belongs to a separable conv (with "
                f"{join(scope, pointwise)!r}), which has no tf1_wn "
                f"counterpart; leave it out with --exclude {scope!r}")
    targets = [join(scope, vn.DIRECTION), join(scope, vn.GAIN)]
    return "convert", targets, _convert_layer(kind, eps), kind, ""


def _candidate_kernels(b):
    """The selected float kernels of `b`, sorted by name."""
    for name in sorted(b.variables):
        _, base = split(name)
        if (b.primary(name) and base in names_mod.KERNEL_NAMES
                + names_mod.DEPTHWISE_NAMES and b.is_selected(name)
                and names_mod.is_float_dtype(b.variables[name].dtype)):
            yield name


def plan_convert(variables, include=None, exclude=None, layouts_hints=None,
                 keep_slots=False, eps=0.0, graph=None):
    """Plans plain kernels -> weight-normalized ``v``, ``g``.

    Args:
      variables: dict ``name -> VariableInfo`` (shape list, numpy dtype).
      include: regex or list; a kernel is converted only when one of them is
        found (``re.search``) in its name.  None converts every kernel.
      exclude: regex or list; kernels matching any are left unchanged.
      layouts_hints: ``{regex: kind}`` or ``['REGEX=KIND', ...]``.
      keep_slots: carry the slots of converted kernels over under their old
        names instead of dropping them.
      eps: ``g = sqrt(sum(kernel**2) + eps)``; 0 (default) gives
        ``g = ||kernel||``.
      graph: the `graph_evidence.GraphEvidence` of the checkpoint's
        ``.meta`` graph, or None (see `layouts`).

    Returns:
      A `Plan`.

    Raises:
      AmbiguousLayoutError, InvalidLayoutError, NameCollisionError,
      UnsupportedVariableError.
    """
    b = Builder(variables, include, exclude, layouts_hints, keep_slots,
                graph)
    matched = 0
    for name in _candidate_kernels(b):
        matched += 1
        scope, base = split(name)
        shape = b.variables[name].shape
        hint = b.hint(name)
        cell_kind = names_mod.cell_kind(name, hint) if base in \
            names_mod.KERNEL_NAMES else None
        if cell_kind is not None:
            step = _cell_step(b, name, scope, shape, cell_kind, eps)
        else:
            step = _layer_step(b, name, scope, shape, hint, eps)
        if step is None:
            continue
        action, targets, compute, kind, note = step
        b.add(action, [name], targets, kind=kind, note=note, compute=compute)

        def ema(suffix, kids, action=action, targets=targets,
                compute=compute):
            b.add(action, kids, [t + "/" + suffix for t in targets],
                  note="moving average converted alike", compute=compute)
            return True
        b.handle_children([name], ema)
        plan_bias_rename(b, scope, vn.BIAS)
    if (include or exclude) and not matched:
        b.warnings.append("no kernel matched the include/exclude patterns")
    return b.finish("convert")
