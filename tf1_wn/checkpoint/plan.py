"""Plans for `convert` and `fold`: which variables become which, and how.

Pure Python + NumPy.  A plan is built from the variable names, shapes and
dtypes of a checkpoint alone (so ``--dry-run`` never reads a tensor) and is
a list of `Step`s; `Plan.apply` then maps the source arrays to the result.

Policies (docs/checkpoints.md):

* Optimizer slots of a converted/folded variable (``dense/kernel/Adam``,
  ``.../Momentum``, ...) belong to the old parametrization: dropped with a
  `CheckpointWarning` by default, or carried over under their old names with
  ``keep_slots=True``.  Slots of a renamed bias (``biases -> bias``) are
  renamed with it.
* ``ExponentialMovingAverage`` shadows of a converted kernel are converted
  the same way (``v/ExponentialMovingAverage``, ``g/ExponentialMovingAverage``),
  so the averaged model also computes what it did.
* Every other variable is copied unchanged.
"""
import collections
import warnings

import numpy as np

from tf1_wn import checkpoint_errors as errors
from tf1_wn import checkpoint_names as names_mod
from tf1_wn import kernel_layouts as layouts
from tf1_wn.normalization import DEFAULT_EPS

#: Everything a plan knows about one checkpoint variable.
VariableInfo = collections.namedtuple("VariableInfo", ["shape", "dtype"])

_join = names_mod.join_name
_split = names_mod.split_name


class Step(collections.namedtuple(
        "Step", ["action", "sources", "targets", "kind", "note", "compute"])):
    """One unit of a plan.

    Attributes:
      action: ``copy``, ``rename``, ``drop``, ``convert``, ``convert_cell``,
        ``fold``, ``fold_cell`` or ``fold_ws``.
      sources: tuple of input variable names.
      targets: tuple of output variable names (empty for ``drop``).
      kind: the kernel kind used, or None.
      note: human-readable remark, or ''.
      compute: ``f(list of source arrays) -> list of target arrays``; None
        means identity (copy/rename).
    """

    def describe(self):
        """One line: ``action  sources -> targets  [kind] note``."""
        line = "%-12s %s" % (self.action, ", ".join(self.sources))
        if self.targets and tuple(self.targets) != tuple(self.sources):
            line += " -> " + ", ".join(self.targets)
        if self.kind:
            line += "  [%s]" % self.kind
        if self.note:
            line += "  (%s)" % self.note
        return line


class Plan(object):
    """An ordered list of `Step`s plus the warnings raised while planning."""

    def __init__(self, operation, steps, warnings_list):
        self.operation = operation
        self.steps = list(steps)
        self.warnings = list(warnings_list)

    @property
    def changed(self):
        """The steps that do more than copy a variable."""
        return [s for s in self.steps if s.action != "copy"]

    def target_names(self):
        """Names of every variable of the result, sorted."""
        return sorted(t for s in self.steps for t in s.targets)

    def describe(self, verbose=False):
        """The plan as text lines (copies summarized unless `verbose`)."""
        lines = [s.describe() for s in self.steps
                 if verbose or s.action != "copy"]
        copies = sum(1 for s in self.steps if s.action == "copy")
        if not verbose and copies:
            lines.append("copy         %d other variable(s) unchanged" % copies)
        lines.extend("warning: " + w for w in self.warnings)
        return lines

    def apply(self, read):
        """Runs the plan.

        Args:
          read: ``f(name) -> numpy array`` for the source checkpoint.

        Returns:
          dict ``target name -> numpy array``.
        """
        out = {}
        for step in self.steps:
            if not step.targets:
                continue
            arrays = [read(name) for name in step.sources]
            results = arrays if step.compute is None else step.compute(arrays)
            for target, value in zip(step.targets, results):
                out[target] = value
        return out

    def emit_warnings(self):
        """Issues every planning warning as a `CheckpointWarning`."""
        for message in self.warnings:
            warnings.warn(message, errors.CheckpointWarning, stacklevel=3)


def _check_collisions(steps):
    written = {}
    for step in steps:
        for target in step.targets:
            if target in written:
                other = written[target]
                raise errors.NameCollisionError(
                    "name collision: %r would be written both from %s (%s) "
                    "and from %s (%s); remove one of them or leave that layer "
                    "out with --exclude"
                    % (target, list(other.sources), other.action,
                       list(step.sources), step.action))
            written[target] = step


class _Builder(object):
    """Shared bookkeeping of the convert and fold planners."""

    def __init__(self, variables, include, exclude, layout_hints, keep_slots):
        self.variables = dict(variables)
        self.parents = names_mod.find_parents(self.variables)
        self.children = collections.defaultdict(list)
        for name, parent in sorted(self.parents.items()):
            if parent is not None:
                self.children[parent].append(name)
        self.include = names_mod.compile_filters(include, "include pattern")
        self.exclude = names_mod.compile_filters(exclude, "exclude pattern")
        self.hints = names_mod.parse_layouts(layout_hints)
        self.keep_slots = keep_slots
        self.steps = []
        self.warnings = []
        self.claimed = set()

    def primary(self, name):
        return name in self.variables and self.parents[name] is None

    def is_selected(self, name):
        return names_mod.selected(name, self.include, self.exclude)

    def hint(self, name):
        return names_mod.hinted_kind(name, self.hints)

    def add(self, action, sources, targets, kind=None, note="", compute=None):
        self.steps.append(Step(action, tuple(sources), tuple(targets), kind,
                               note, compute))
        self.claimed.update(sources)

    def handle_children(self, old_names, transform_ema):
        """Slots of replaced variables: EMA shadows via `transform_ema`
        (``suffix -> bool``), the rest dropped or kept."""
        suffixes = collections.defaultdict(list)
        for old in old_names:
            for child in self.children.get(old, ()):
                suffixes[child[len(old) + 1:]].append(child)
        for suffix in sorted(suffixes):
            kids = suffixes[suffix]
            if suffix == names_mod.EMA_SUFFIX and transform_ema(suffix, kids):
                continue
            for child in kids:
                if self.keep_slots:
                    self.add("copy", [child], [child],
                             note="slot kept under its old name")
                else:
                    self.add("drop", [child], [], note="slot of a replaced "
                             "variable")

    def rename_with_children(self, old, new, note):
        self.add("rename", [old], [new], note=note)
        for child in self.children.get(old, ()):
            self.add("rename", [child], [new + child[len(old):]],
                     note="slot follows its variable")

    def finish(self, operation):
        dropped = [s.sources[0] for s in self.steps if s.action == "drop"]
        if dropped:
            self.warnings.insert(0, (
                "dropped %d optimizer slot(s) of replaced variables (%s); "
                "pass keep_slots=True / --keep-slots to keep them under their "
                "old names" % (len(dropped), ", ".join(dropped))))
        for name in sorted(self.variables):
            if name not in self.claimed:
                self.add("copy", [name], [name])
        _check_collisions(self.steps)
        return Plan(operation, self.steps, self.warnings)


# ----------------------------------------------------------------- convert --

def _convert_layer(kind, eps):
    def compute(arrays):
        kernel = arrays[0]
        return [kernel, layouts.kernel_norm(kernel, kind, eps)]
    return compute


def _convert_cell(d, eps):
    def compute(arrays):
        kernel = arrays[0]
        x_part, h_part = kernel[:d], kernel[d:]
        return [x_part, layouts.kernel_norm(x_part, "dense", eps),
                h_part, layouts.kernel_norm(h_part, "dense", eps)]
    return compute


def _check_cell_siblings(b, name, scope):
    for sibling in ("recurrent_kernel", "w_f_diag", "w_i_diag", "w_o_diag",
                    "projection/kernel"):
        if _join(scope, sibling) in b.variables:
            raise errors.UnsupportedVariableError(
                "cell kernel %r has a sibling %r: Keras-style recurrent "
                "kernels, peepholes and projections have no tf1_wn cell "
                "counterpart; leave the cell out with --exclude %r"
                % (name, _join(scope, sibling), scope))


def plan_convert(variables, include=None, exclude=None, layouts_hints=None,
                 keep_slots=False, eps=0.0):
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

    Returns:
      A `Plan`.

    Raises:
      AmbiguousLayoutError, InvalidLayoutError, NameCollisionError,
      UnsupportedVariableError.
    """
    b = _Builder(variables, include, exclude, layouts_hints, keep_slots)
    kernel_names = names_mod.KERNEL_NAMES + names_mod.DEPTHWISE_NAMES
    matched = 0
    for name in sorted(b.variables):
        scope, base = _split(name)
        if not b.primary(name) or base not in kernel_names:
            continue
        if not b.is_selected(name):
            continue
        info = b.variables[name]
        if not np.issubdtype(np.dtype(info.dtype), np.floating) and not str(
                info.dtype).startswith("bfloat16"):
            continue
        matched += 1
        hint = b.hint(name)
        ckind = names_mod.cell_kind(name, hint) if base in \
            names_mod.KERNEL_NAMES else None
        if ckind is not None:
            _check_cell_siblings(b, name, scope)
            try:
                d, n = layouts.cell_split(info.shape, ckind)
            except layouts.LayoutError as error:
                raise errors.InvalidLayoutError("%r: %s" % (name, error)
                                                ) from None
            targets = [_join(scope, p) for p in
                       ("input/v", "input/g", "recurrent/v", "recurrent/g")]
            compute = _convert_cell(d, eps)
            b.add("convert_cell", [name], targets, kind=ckind,
                  note="d=%d, n=%d" % (d, n), compute=compute)
            action = "convert_cell"
        else:
            kind = names_mod.layer_kind(name, info.shape, hint)
            if kind is None:
                b.warnings.append("%r has rank %d: not a layer kernel, copied "
                                  "unchanged" % (name, len(info.shape)))
                continue
            for pointwise in ("pointwise_weights", "pointwise_kernel"):
                if _join(scope, pointwise) in b.variables:
                    raise errors.UnsupportedVariableError(
                        "%r belongs to a separable conv (with %r), which has "
                        "no tf1_wn counterpart; leave it out with --exclude %r"
                        % (name, _join(scope, pointwise), scope))
            targets = [_join(scope, "v"), _join(scope, "g")]
            compute = _convert_layer(kind, eps)
            b.add("convert", [name], targets, kind=kind, compute=compute)
            action = "convert"

        def ema(suffix, kids, targets=targets, compute=compute):
            b.add(action, kids, [t + "/" + suffix for t in targets],
                  note="moving average converted alike", compute=compute)
            return True
        b.handle_children([name], ema)
        _plan_bias_rename(b, scope, "bias")
    if (include or exclude) and not matched:
        b.warnings.append("no kernel matched the include/exclude patterns")
    return b.finish("convert")


def _plan_bias_rename(b, scope, wanted):
    present = [_join(scope, n) for n in names_mod.BIAS_NAMES
               if b.primary(_join(scope, n))]
    if len(present) > 1:
        raise errors.NameCollisionError(
            "name collision: layer %r has both %r and %r" % (
                scope, present[0], present[1]))
    if not present or present[0] in b.claimed:
        return
    target = _join(scope, wanted)
    if present[0] != target:
        b.rename_with_children(present[0], target, "bias renamed")


# -------------------------------------------------------------------- fold --

def _fold_layer(kind, eps):
    def compute(arrays):
        return [layouts.fold_weight_norm(arrays[0], arrays[1], kind, eps)]
    return compute


def _fold_cell(eps):
    def compute(arrays):
        xv, xg, hv, hg = arrays
        return [np.concatenate(
            [layouts.fold_weight_norm(xv, xg, "dense", eps),
             layouts.fold_weight_norm(hv, hg, "dense", eps)], axis=0)]
    return compute


def _fold_ws(kind, variant, with_gain):
    def compute(arrays):
        gain = arrays[1] if with_gain else None
        return [layouts.fold_weight_standardization(arrays[0], kind, variant,
                                                    gain)]
    return compute


def fold_kind(variables, hints, v_name, g_name):
    """Kind of a weight-normalized ``v``: hint, else name rules checked
    against g's size, else the only kind g's size allows.

    Args:
      variables: dict ``name -> VariableInfo``.
      hints: compiled hints (`checkpoint_names.parse_layouts`).
      v_name, g_name: the pair's names.

    Returns:
      A key of `kernel_layouts.LAYER_KINDS`.

    Raises:
      AmbiguousLayoutError, InvalidLayoutError.
    """
    shape = variables[v_name].shape
    g_size = int(np.prod(variables[g_name].shape))
    hint = names_mod.hinted_kind(v_name, hints)
    if hint is not None:
        kind = names_mod.layer_kind(v_name, shape, hint)
        if layouts.num_channels(kind, shape) != g_size:
            raise errors.InvalidLayoutError(
                "layout hint %r for %r: g %r has %d entries, a %s kernel of "
                "shape %s needs %d" % (hint, v_name, g_name, g_size, kind,
                                       list(shape),
                                       layouts.num_channels(kind, shape)))
        return kind
    rank = len(shape)
    candidates = [k for k, r in sorted(layouts.LAYER_KINDS.items())
                  if r == rank and layouts.num_channels(k, shape) == g_size]
    try:
        named = names_mod.layer_kind(v_name, shape,
                                     trust_depthwise_scope=True)
    except errors.AmbiguousLayoutError:
        named = None
    if named in candidates:
        return named
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise errors.InvalidLayoutError(
            "%r of shape %s and %r with %d entries fit no kernel layout"
            % (v_name, list(shape), g_name, g_size))
    raise names_mod._ambiguous(v_name, shape, "g's size fits %s"
                               % " and ".join(candidates))


def plan_fold(variables, include=None, exclude=None, layouts_hints=None,
              keep_slots=False, eps=DEFAULT_EPS, naming="tf", ws=None,
              ws_variant=None, recorded_variants=None):
    """Plans weight-normalized (and weight-standardized) layers -> plain kernels.

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
      ws_variant: variant for WS kernels without a recorded one.
      recorded_variants: dict ``kernel name -> variant`` read from the
        checkpoint (see `tf1_wn.checkpoint`).

    Returns:
      A `Plan`.

    Raises:
      AmbiguousLayoutError, InvalidLayoutError, NameCollisionError, and
      CheckpointError for a WS kernel without a known variant.
    """
    if naming not in ("tf", "slim"):
        raise errors.CheckpointError("naming must be 'tf' or 'slim', got %r"
                                     % (naming,))
    if ws_variant is not None:
        try:
            layouts.resolve_ws_variant(ws_variant)
        except layouts.LayoutError as error:
            raise errors.CheckpointError("ws_variant: %s" % error) from None
    b = _Builder(variables, include, exclude, layouts_hints, keep_slots)
    ws_filters = names_mod.compile_filters(ws, "ws pattern")
    recorded_variants = dict(recorded_variants or {})
    kernel_base = "kernel" if naming == "tf" else "weights"
    depthwise_base = ("depthwise_kernel" if naming == "tf"
                      else "depthwise_weights")
    bias_base = "bias" if naming == "tf" else "biases"

    def pair(scope):
        v, g = _join(scope, "v"), _join(scope, "g")
        return (v, g) if b.primary(v) and b.primary(g) else None

    scopes = sorted({_split(n)[0] for n in b.variables
                     if _split(n)[1] == "v" and b.primary(n)})
    for scope in scopes:
        if _join(scope, "v") in b.claimed:
            continue
        parent, last = _split(scope)
        x_pair = pair(_join(parent, "input")) if last == "input" else None
        h_pair = pair(_join(parent, "recurrent")) if last == "input" else None
        if x_pair and h_pair:
            if not b.is_selected(x_pair[0]):
                continue
            sources = list(x_pair) + list(h_pair)
            shapes = [b.variables[s].shape for s in sources]
            if len(shapes[0]) != 2 or len(shapes[2]) != 2:
                raise errors.InvalidLayoutError(
                    "cell %r: input/v %s and recurrent/v %s must be rank 2"
                    % (parent, shapes[0], shapes[2]))
            target = _join(parent, "kernel" if naming == "tf" else "weights")
            compute = _fold_cell(eps)
            b.add("fold_cell", sources, [target], kind="cell",
                  compute=compute)
            _fold_children(b, sources, [target], "fold_cell", compute)
            _plan_bias_rename(b, parent, bias_base)
            continue
        found = pair(scope)
        if found is None or not b.is_selected(found[0]):
            continue
        kind = fold_kind(b.variables, b.hints, *found)
        base = depthwise_base if kind == "depthwise_conv2d" else kernel_base
        target = _join(scope, base)
        compute = _fold_layer(kind, eps)
        b.add("fold", list(found), [target], kind=kind, compute=compute)
        _fold_children(b, list(found), [target], "fold", compute)
        _plan_bias_rename(b, scope, bias_base)

    kernel_names = names_mod.KERNEL_NAMES + names_mod.DEPTHWISE_NAMES
    for name in sorted(b.variables):
        scope, base = _split(name)
        if base not in kernel_names or not b.primary(name) or \
                name in b.claimed or not b.is_selected(name):
            continue
        gain = _join(scope, "gain")
        has_gain = b.primary(gain)
        if not (has_gain or name in recorded_variants or any(
                r.search(name) for r in ws_filters)):
            continue
        variant = recorded_variants.get(name, ws_variant)
        if variant is None:
            raise errors.CheckpointError(
                "%r is a weight-standardized kernel%s but its variant is not "
                "recorded; pass ws_variant= / --variant (one of %s)"
                % (name, " (it has a gain)" if has_gain else "",
                   ", ".join(sorted(layouts.WS_VARIANTS))))
        shape = b.variables[name].shape
        kind = names_mod.layer_kind(name, shape, b.hint(name),
                                    trust_depthwise_scope=True)
        if kind is None:
            raise errors.InvalidLayoutError("%r of shape %s is not a layer "
                                            "kernel" % (name, list(shape)))
        if has_gain and int(np.prod(b.variables[gain].shape)) != \
                layouts.num_channels(kind, shape):
            raise errors.InvalidLayoutError(
                "%r of shape %s does not fit the %s kernel %r of shape %s; "
                "give the layout with a hint" % (
                    gain, b.variables[gain].shape, kind, name, list(shape)))
        sources = [name, gain] if has_gain else [name]
        compute = _fold_ws(kind, variant, has_gain)
        b.add("fold_ws", sources, [name], kind=kind,
              note="variant %s" % (variant,), compute=compute)
        _fold_children(b, sources, [name], "fold_ws", compute)
        _plan_bias_rename(b, scope, bias_base)
    return b.finish("fold")


def _fold_children(b, sources, targets, action, compute):
    """EMA shadows of every source -> the folded shadow; else dropped."""
    def ema(suffix, kids):
        shadows = [s + "/" + suffix for s in sources]
        if all(s in b.variables for s in shadows):
            b.add(action, shadows, [t + "/" + suffix for t in targets],
                  note="moving average folded alike", compute=compute)
            return True
        b.warnings.append("incomplete moving averages %s of %s dropped"
                          % (kids, sources))
        return False
    b.handle_children(sources, ema)
