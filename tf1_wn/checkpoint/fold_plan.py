"""The plan of `fold`: weight-normalized (and weight-standardized) layers
-> plain kernels.

``<scope>/v`` + ``<scope>/g`` become ``<scope>/kernel = g * v /
sqrt(sum(v**2) + eps)``; a WN cell's ``input/*`` + ``recurrent/*`` become
the TF1 cell ``kernel``; a WS ``kernel`` (with a ``gain`` sibling, or
matched by ``ws``) becomes its standardized (times gain) kernel.
"""
import numpy as np

from tf1_wn import kernel_kinds
from tf1_wn import variable_names as vn
from tf1_wn.checkpoint import errors
from tf1_wn.checkpoint import kernel_math
from tf1_wn.checkpoint import layouts
from tf1_wn.checkpoint import names as names_mod
from tf1_wn.checkpoint.plan import Builder, join, plan_bias_rename, split
from tf1_wn.normalization import DEFAULT_EPS


def _fold_layer(kind, eps):
    def compute(arrays):
        return [kernel_math.fold_weight_norm(arrays[0], arrays[1], kind, eps)]
    return compute


def _fold_cell(eps):
    def compute(arrays):
        xv, xg, hv, hg = arrays
        return [np.concatenate(
            [kernel_math.fold_weight_norm(xv, xg, "dense", eps),
             kernel_math.fold_weight_norm(hv, hg, "dense", eps)], axis=0)]
    return compute


def _fold_ws(kind, variant, with_gain):
    def compute(arrays):
        gain = arrays[1] if with_gain else None
        return [kernel_math.fold_weight_standardization(arrays[0], kind,
                                                        variant, gain)]
    return compute


def fold_kind(variables, hints, v_name, g_name, graph=None):
    """Kind of a weight-normalized ``v``: the hint, else the evidence of
    `layouts.resolve` (the graph, g's size, the names).

    Args:
      variables: dict ``name -> VariableInfo``.
      hints: compiled hints (`names.parse_layouts`).
      v_name, g_name: the pair's names.
      graph: a `graph_evidence.GraphEvidence`, or None.

    Returns:
      A key of `kernel_kinds.LAYER_KINDS`.

    Raises:
      AmbiguousLayoutError, InvalidLayoutError.
    """
    shape = variables[v_name].shape
    g_size = int(np.prod(variables[g_name].shape))
    hint = names_mod.hinted_kind(v_name, hints)
    if hint is not None:
        kind = names_mod.layer_kind(v_name, shape, hint)
        needed = kernel_kinds.num_channels(kind, shape)
        if needed != g_size:
            raise errors.InvalidLayoutError(
                f"layout hint {hint!r} for {v_name!r}: g {g_name!r} has "
                f"{g_size} entries, a {kind} kernel of shape {list(shape)} "
                f"needs {needed}")
        return kind
    return layouts.resolve(v_name, shape, graph=graph,
                           channels=(g_size, f"g {g_name!r}"),
                           trust_depthwise_scope=True)


def _fold_children(b, sources, targets, action, compute):
    """EMA shadows of every source -> the folded shadow; else dropped."""
    def ema(suffix, kids):
        shadows = [s + "/" + suffix for s in sources]
        if all(s in b.variables for s in shadows):
            b.add(action, shadows, [t + "/" + suffix for t in targets],
                  note="moving average folded alike", compute=compute)
            return True
        b.warnings.append(f"incomplete moving averages {kids} of {sources} "
                          "dropped")
        return False
    b.handle_children(sources, ema)


def _fold_step(b, action, sources, target, kind, compute, bias_scope, names,
               note=""):
    """Adds one fold step with its moving averages and bias rename."""
    b.add(action, sources, [target], kind=kind, note=note, compute=compute)
    _fold_children(b, sources, [target], action, compute)
    plan_bias_rename(b, bias_scope, names.bias)


#: Names of the direction: tf1-wn's ``v`` and pixel-cnn's ``nn.py`` ``V``
#: (whose bias is ``b``).
DIRECTION_NAMES = (vn.DIRECTION, "V")
PIXELCNN_BIAS = "b"


def _weight_norm_pair(b, scope):
    for direction in DIRECTION_NAMES:
        v, g = join(scope, direction), join(scope, vn.GAIN)
        if b.primary(v) and b.primary(g):
            return v, g
    return None


def _fold_cell_scope(b, parent, eps, names):
    """Folds the WN cell under `parent` if `parent` is one; whether it is."""
    x_pair = _weight_norm_pair(b, join(parent, vn.CELL_INPUT))
    h_pair = _weight_norm_pair(b, join(parent, vn.CELL_RECURRENT))
    if not (x_pair and h_pair):
        return False
    if b.is_selected(x_pair[0]):
        sources = list(x_pair) + list(h_pair)
        shapes = [b.variables[s].shape for s in sources]
        if len(shapes[0]) != 2 or len(shapes[2]) != 2:
            raise errors.InvalidLayoutError(
                f"cell {parent!r}: input/v {shapes[0]} and recurrent/v "
                f"{shapes[2]} must be rank 2")
        _fold_step(b, "fold_cell", sources, join(parent, names.kernel),
                   "cell", _fold_cell(eps), parent, names)
    return True


def _fold_weight_norm(b, eps, names):
    """Plans the fold of every selected ``v``/``g`` layer and WN cell."""
    scopes = sorted({split(n)[0] for n in b.variables
                     if split(n)[1] in DIRECTION_NAMES and b.primary(n)})
    for scope in scopes:
        if any(join(scope, d) in b.claimed for d in DIRECTION_NAMES):
            continue
        parent, last = split(scope)
        if last == vn.CELL_INPUT and _fold_cell_scope(b, parent, eps,
                                                      names):
            continue
        found = _weight_norm_pair(b, scope)
        if found is None or not b.is_selected(found[0]):
            continue
        kind = fold_kind(b.variables, b.hints, *found, graph=b.graph)
        base = names.depthwise if kind == "depthwise_conv2d" else \
            names.kernel
        _fold_step(b, "fold", list(found), join(scope, base), kind,
                   _fold_layer(kind, eps), scope, names)
        pixelcnn_bias = join(scope, PIXELCNN_BIAS)
        if split(found[0])[1] == "V" and b.primary(pixelcnn_bias):
            b.rename_with_children(pixelcnn_bias, join(scope, names.bias),
                                   "pixel-cnn b")


def _ws_kernel_kind(b, name, gain, has_gain):
    shape = b.variables[name].shape
    channels = None
    if has_gain:
        channels = (int(np.prod(b.variables[gain].shape)), f"gain {gain!r}")
    kind = layouts.resolve(name, shape, b.hint(name), graph=b.graph,
                           channels=channels,
                           trust_depthwise_scope=True)
    if kind is None:
        raise errors.InvalidLayoutError(
            f"{name!r} of shape {list(shape)} is not a layer kernel")
    if has_gain and int(np.prod(b.variables[gain].shape)) != \
            kernel_kinds.num_channels(kind, shape):
        raise errors.InvalidLayoutError(
            f"{gain!r} of shape {b.variables[gain].shape} does not fit the "
            f"{kind} kernel {name!r} of shape {list(shape)}; give the layout "
            "with a hint")
    return kind


def _fold_weight_standardization(b, ws_filters, ws_variant, names):
    """Plans the fold of every selected weight-standardized kernel."""
    kernel_names = names_mod.KERNEL_NAMES + names_mod.DEPTHWISE_NAMES
    for name in sorted(b.variables):
        scope, base = split(name)
        if base not in kernel_names or not b.primary(name) or \
                name in b.claimed or not b.is_selected(name):
            continue
        gain = join(scope, vn.WS_GAIN)
        has_gain = b.primary(gain)
        if not (has_gain or any(r.search(name) for r in ws_filters)):
            continue
        if ws_variant is None:
            raise errors.CheckpointError(
                f"{name!r} is a weight-standardized kernel"
                f"{' (it has a gain)' if has_gain else ''} but its variant "
                "is not recorded; pass ws_variant= / --variant (one of "
                f"{', '.join(sorted(kernel_kinds.WS_VARIANTS))})")
        kind = _ws_kernel_kind(b, name, gain, has_gain)
        _fold_step(b, "fold_ws", [name, gain] if has_gain else [name], name,
                   kind, _fold_ws(kind, ws_variant, has_gain), scope, names,
                   note=f"variant {ws_variant}")


def plan_fold(variables, include=None, exclude=None, layouts_hints=None,
              keep_slots=False, eps=DEFAULT_EPS, naming="tf", ws=None,
              ws_variant=None, graph=None):
    """Plans weight-normalized (and weight-standardized) layers -> plain
    kernels.

    Args:
      variables: dict ``name -> VariableInfo``.
      include, exclude: regexes searched in the ``v`` name (``input/v`` for a
        cell, ``kernel`` for WS layers), as in `plan_convert`.
      layouts_hints: ``{regex: kind}`` or ``['REGEX=KIND', ...]``.
      keep_slots: keep slots of folded variables under their old names.
      eps: the eps of the weight-normalized layers (library default 1e-12).
      naming: ``'tf'`` (``kernel``, ``bias``; ``depthwise_kernel``) or
        ``'slim'`` (``weights``, ``biases``; ``depthwise_weights``).
      ws: regex or list: kernels to treat as weight-standardized even without
        a ``gain`` sibling.  A kernel with a ``gain`` sibling always is.
      ws_variant: the variant of the WS kernels (a key of
        `kernel_kinds.WS_VARIANTS`).
      graph: the `graph_evidence.GraphEvidence` of the ``.meta`` graph, or
        None (see `layouts`).

    Returns:
      A `Plan`.

    Raises:
      AmbiguousLayoutError, InvalidLayoutError, NameCollisionError, and
      CheckpointError for a WS kernel without a variant, a bad `naming` or
      `ws_variant`.
    """
    if naming not in names_mod.FOLD_NAMING:
        raise errors.CheckpointError(
            f"naming must be one of "
            f"{', '.join(repr(n) for n in names_mod.FOLD_NAMING)}, got "
            f"{naming!r}")
    if ws_variant is not None:
        try:
            kernel_kinds.resolve_ws_variant(ws_variant)
        except ValueError as error:
            raise errors.CheckpointError(f"ws_variant: {error}") from None
    b = Builder(variables, include, exclude, layouts_hints, keep_slots,
                graph)
    names = names_mod.FOLD_NAMING[naming]
    _fold_weight_norm(b, eps, names)
    _fold_weight_standardization(
        b, names_mod.compile_filters(ws, "ws pattern"), ws_variant, names)
    return b.finish("fold")
