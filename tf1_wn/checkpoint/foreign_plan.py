"""The plan of ``convert --from tfa|pixelcnn``: other weight-norm
implementations' checkpoints -> tf1-wn's names, outputs unchanged.

* ``pixelcnn`` (openai/pixel-cnn's and openai/weightnorm's TF ``nn.py``):
  ``<layer>/V``, ``/g``, ``/b`` become ``v``, ``g``, ``bias``.  Its layouts
  are tf1-wn's (``dense`` ``[in, out]``, ``conv2d`` ``[kh, kw, in, out]``,
  ``deconv2d`` ``[kh, kw, out, in]`` with g per output channel), so this is
  a rename; slots and moving averages follow their variables (the
  parametrization is the same).
* ``tfa`` (TF Addons' ``WeightNormalization`` wrapper): the wrapped
  layer's ``kernel`` is v, beside (or one scope below) the wrapper's ``g``
  and ``initialized`` flag; ``bias`` stays.  TF Addons keeps g per LAST
  kernel axis, which for ``Conv2DTranspose`` is the input channel: such a
  kernel is re-expressed per output channel (``v = W``, ``g = ||W||`` of
  the weight W the wrapper computed), outputs unchanged, and its optimizer
  slots are dropped; other kernels are renamed.  The ``initialized`` flag
  and the data-init clone's variables (under ``data_dep_init``) are
  dropped.

The formula differences that remain are in docs/checkpoints.md.
"""
import numpy as np

from tf1_wn import kernel_kinds
from tf1_wn import variable_names as vn
from tf1_wn.checkpoint import errors
from tf1_wn.checkpoint import kernel_math
from tf1_wn.checkpoint import layouts
from tf1_wn.checkpoint import names as names_mod
from tf1_wn.checkpoint.plan import Builder, join, split

SOURCES = ("tfa", "pixelcnn")

#: TF Addons' l2_normalize floor on the sum of squares.
_TFA_EPS = 1e-12


def _tfa_to_tf1_wn(kind):
    """TF Addons' weight (g per last axis) -> tf1-wn's v, g for `kind`."""
    def compute(arrays):
        kernel, g = arrays
        axes = tuple(range(kernel.ndim - 1))
        wide = kernel.astype(np.float64)
        norm = np.sqrt(np.maximum((wide ** 2).sum(axis=axes), _TFA_EPS))
        weight = (wide * (g / norm)).astype(kernel.dtype)
        return [weight, kernel_math.kernel_norm(weight, kind, 0.0)]
    return compute


def _pixelcnn(b):
    for name in sorted(b.variables):
        scope, base = split(name)
        if base != "V" or not b.primary(name) or not b.is_selected(name):
            continue
        if not b.primary(join(scope, vn.GAIN)):
            continue
        b.rename_with_children(name, join(scope, vn.DIRECTION),
                               "pixel-cnn V")
        if b.primary(join(scope, "b")):
            b.rename_with_children(join(scope, "b"), join(scope, vn.BIAS),
                                   "pixel-cnn b")


def _tfa_kernel(b, scope):
    """The wrapped layer's kernel of TF Addons' wrapper at `scope`: its
    sibling ``kernel``, else the one ``<inner>/kernel`` not under
    ``data_dep_init``."""
    sibling = join(scope, "kernel")
    if b.primary(sibling):
        return sibling
    inner = [n for n in b.variables if b.primary(n)
             and n.startswith(scope + "/") and n.endswith("/kernel")
             and n.count("/") == scope.count("/") + 2
             and "data_dep_init" not in n.split("/")]
    if len(inner) > 1:
        raise errors.AmbiguousLayoutError(
            f"TF Addons wrapper {scope!r} has several kernels one scope "
            f"below it ({', '.join(sorted(inner))}); convert the layers "
            "one at a time with --include")
    return inner[0] if inner else None


def _tfa(b):
    for g in sorted(b.variables):
        scope, base = split(g)
        if base != vn.GAIN or not b.primary(g):
            continue
        kernel = _tfa_kernel(b, scope)
        if kernel is None or not b.is_selected(kernel):
            continue
        shape = b.variables[kernel].shape
        if int(np.prod(b.variables[g].shape)) != shape[-1]:
            raise errors.InvalidLayoutError(
                f"{g!r} has {b.variables[g].shape} entries, but TF Addons "
                f"keeps one per last axis of {kernel!r} {list(shape)}")
        kind = layouts.resolve(kernel, shape, b.hint(kernel), graph=b.graph)
        _tfa_layer(b, scope, kernel, g, kind)
        for name in sorted(b.variables):
            parts = name.split("/")
            if name == join(scope, "initialized") or (
                    name.startswith(scope + "/")
                    and "data_dep_init" in parts):
                b.add("drop", [name], [], note="TF Addons' data-init state")


def _tfa_layer(b, scope, kernel, g, kind):
    targets = [join(scope, vn.DIRECTION), join(scope, vn.GAIN)]
    if kernel_kinds.reduce_axes(kind) == list(range(len(
            b.variables[kernel].shape) - 1)):
        b.rename_with_children(kernel, targets[0], "TF Addons' kernel is v")
    else:
        compute = _tfa_to_tf1_wn(kind)
        b.add("convert", [kernel, g], targets, kind=kind,
              note="g per output channel (TF Addons: per input)",
              compute=compute)

        def ema(suffix, kids):
            shadows = [kernel + "/" + suffix, g + "/" + suffix]
            if all(s in b.variables for s in shadows):
                b.add("convert", shadows, [t + "/" + suffix
                                           for t in targets],
                      note="moving average converted alike", compute=compute)
                return True
            return False
        b.handle_children([kernel, g], ema)
    bias_scope = split(kernel)[0]
    for base in names_mod.BIAS_NAMES:
        bias = join(bias_scope, base)
        if b.primary(bias) and bias not in b.claimed:
            if bias != join(scope, vn.BIAS):
                b.rename_with_children(bias, join(scope, vn.BIAS),
                                       "bias renamed")


def plan_from(source, variables, include=None, exclude=None,
              layouts_hints=None, keep_slots=False, graph=None):
    """Plans another implementation's weight-norm checkpoint -> tf1-wn.

    Args:
      source: ``'tfa'`` or ``'pixelcnn'`` (see the module docstring).
      variables: dict ``name -> VariableInfo``.
      include, exclude, layouts_hints, keep_slots, graph: as `plan_convert`.

    Returns:
      A `Plan`.

    Raises:
      CheckpointError: an unknown `source`; the layout errors of
      `layouts.resolve`; NameCollisionError.
    """
    if source not in SOURCES:
        raise errors.CheckpointError(
            f"source must be one of {', '.join(SOURCES)}; got {source!r}")
    b = Builder(variables, include, exclude, layouts_hints, keep_slots,
                graph)
    (_tfa if source == "tfa" else _pixelcnn)(b)
    return b.finish("convert")
