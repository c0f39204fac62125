"""Variable-name conventions of TF1 checkpoints and kernel-kind inference.

Pure Python: works on names and shapes only.  Rules (docs/checkpoints.md):

* A kernel is a variable named ``kernel`` or ``weights`` (tf_slim), or
  ``depthwise_kernel``/``depthwise_weights`` (always a depthwise conv).
* A layout hint (``{regex: kind}``, first ``re.search`` match on the full
  variable name wins) decides the kind outright.
* Rank 2 is ``dense``.  Ranks 3-5 are ``conv1d/2d/3d`` unless the layer's own
  scope (the last scope component) says otherwise: ``transpose`` or
  ``deconv`` in it (any case) makes a transposed conv.  A kernel whose own
  scope mentions ``depthwise``, or whose *enclosing* scopes mention
  ``transpose``/``deconv``/``depthwise`` while its own does not, is
  ambiguous: `AmbiguousLayoutError`, asking for a hint.
* TF1 cells: a kernel whose scope ends in ``basic_lstm_cell``/``lstm_cell``
  (LSTM, 4 gate blocks), ``basic_rnn_cell`` (1 block) or
  ``gru_cell/gates`` / ``gru_cell/candidate`` (2 / 1 blocks).
"""
import collections
import re

import numpy as np

from tf1_wn import kernel_kinds
from tf1_wn.checkpoint import errors
from tf1_wn.errors import LayoutError

KERNEL_NAMES = ("kernel", "weights")
DEPTHWISE_NAMES = ("depthwise_kernel", "depthwise_weights")
BIAS_NAMES = ("bias", "biases")
EMA_SUFFIX = "ExponentialMovingAverage"
LSTM_SCOPES = ("basic_lstm_cell", "lstm_cell")
RNN_SCOPES = ("basic_rnn_cell",)
_TRANSPOSE_WORDS = ("transpose", "deconv")
_DEPTHWISE_WORD = "depthwise"

#: The names `fold` gives the plain variables, by naming convention.
FoldNames = collections.namedtuple("FoldNames",
                                   ["kernel", "depthwise", "bias"])
FOLD_NAMING = {
    "tf": FoldNames("kernel", "depthwise_kernel", "bias"),
    "slim": FoldNames("weights", "depthwise_weights", "biases"),
}


def is_float_dtype(dtype):
    """Whether a checkpoint variable's (NumPy) dtype is a float, bfloat16
    included (NumPy does not count it as floating)."""
    dtype = np.dtype(dtype)
    return np.issubdtype(dtype, np.floating) or dtype.name == "bfloat16"


def dtype_name(dtype):
    """The TensorFlow name of a checkpoint variable's (NumPy) dtype:
    ``string`` rather than NumPy's ``object``."""
    dtype = np.dtype(dtype)
    return "string" if dtype == np.dtype(object) else dtype.name


def split_name(name):
    """``'a/b/kernel'`` -> ``('a/b', 'kernel')``."""
    scope, _, base = name.rpartition("/")
    return scope, base


def join_name(scope, base):
    """Inverse of `split_name`; an empty scope gives `base` alone."""
    return scope + "/" + base if scope else base


def parse_layouts(layout_hints):
    """Compiles layout hints.

    Args:
      layout_hints: None, a mapping ``{regex: kind}``, or an iterable of
        ``'REGEX=KIND'`` strings (the command line's ``--layout``).

    Returns:
      A list of ``(compiled_regex, kind)`` in the given order.

    Raises:
      InvalidLayoutError: malformed entry, bad regex or unknown kind.
    """
    if not layout_hints:
        return []
    if hasattr(layout_hints, "items"):
        items = list(layout_hints.items())
    else:
        items = [split_layout_hint(entry) for entry in layout_hints]
    return [compile_layout_hint(pattern, kind) for pattern, kind in items]


def split_layout_hint(text):
    """``'REGEX=KIND'`` -> ``('REGEX', 'KIND')`` (split at the last ``=``).

    Raises:
      InvalidLayoutError: no ``=`` or an empty REGEX.
    """
    pattern, sep, kind = str(text).rpartition("=")
    if not sep or not pattern:
        raise errors.InvalidLayoutError(
            f"layout hint {text!r} is not of the form REGEX=KIND")
    return pattern, kind


def compile_layout_hint(pattern, kind):
    """Checks one layout hint; returns ``(compiled_regex, kind)``.

    Raises:
      InvalidLayoutError: unknown kind or bad regular expression.
    """
    if kind not in kernel_kinds.HINT_KINDS:
        raise errors.InvalidLayoutError(
            f"layout hint {pattern!r}: unknown kind {kind!r}; expected one "
            f"of {', '.join(kernel_kinds.HINT_KINDS)}")
    try:
        return re.compile(pattern), kind
    except re.error as error:
        raise errors.InvalidLayoutError(
            f"layout hint {pattern!r}: bad regular expression: "
            f"{error}") from None


def hinted_kind(name, hints):
    """The kind of the first hint whose regex is found in `name`, or None."""
    for regex, kind in hints:
        if regex.search(name):
            return kind
    return None


def _scope_parts(name):
    scope, _ = split_name(name)
    return scope.split("/") if scope else []


def cell_kind(name, hint=None):
    """The TF1-cell kind of kernel `name`, or None for a layer kernel.

    Args:
      name: the kernel variable's full name.
      hint: the hinted kind for `name`, if any.

    Returns:
      ``'lstm_cell'``, ``'rnn_cell'``, ``'gru_gates'``, ``'gru_candidate'``
      or None.

    Raises:
      AmbiguousLayoutError: a ``gru_cell`` hint on a kernel whose scope does
        not end in ``gates`` or ``candidate``.
    """
    parts = _scope_parts(name)
    last = parts[-1] if parts else ""
    if hint in ("lstm_cell", "rnn_cell"):
        return hint
    if hint == "gru_cell":
        if last in ("gates", "candidate"):
            return "gru_" + last
        raise errors.AmbiguousLayoutError(
            "ambiguous kernel layout: %r is hinted as gru_cell but its scope "
            "does not end in 'gates' or 'candidate'" % (name,))
    if hint is not None:
        return None
    if last in LSTM_SCOPES:
        return "lstm_cell"
    if last in RNN_SCOPES:
        return "rnn_cell"
    if len(parts) >= 2 and parts[-2] == "gru_cell" and last in (
            "gates", "candidate"):
        return "gru_" + last
    return None


def ambiguous(name, shape, why):
    """The `AmbiguousLayoutError` for kernel `name`, with the hint to give."""
    return errors.AmbiguousLayoutError(
        "ambiguous kernel layout for %r (shape %s): %s. Say which with a "
        "layout hint, e.g. --layout '%s=conv2d_transpose' on the command "
        "line or layouts={%r: 'depthwise_conv2d'} in Python (kinds: %s)"
        % (name, list(shape), why, re.escape(name), re.escape(name),
           ", ".join(kernel_kinds.HINT_KINDS)))


def _check(kind, name, shape, source):
    try:
        kernel_kinds.check_kind(kind, shape)
    except LayoutError as error:
        raise errors.InvalidLayoutError("%s for %r: %s" % (source, name, error)
                                        ) from None


def layer_kind(name, shape, hint=None, trust_depthwise_scope=False):
    """The layer kind of kernel `name` of `shape` (see the module rules).

    Args:
      name: the kernel (or v) variable's full name.
      shape: its shape.
      hint: the hinted kind, if any (decides outright).
      trust_depthwise_scope: take an own scope mentioning ``depthwise`` as a
        depthwise conv (used when folding, where g's size confirms it).

    Returns:
      A key of `kernel_kinds.LAYER_KINDS`, or None when the rank is not
      2..5 (such a variable is left alone).

    Raises:
      AmbiguousLayoutError: the name does not settle the layout.
      InvalidLayoutError: the hint or name does not fit the shape.
    """
    rank = len(shape)
    if hint is not None:
        _check(hint, name, shape, "layout hint %r" % hint)
        return hint
    _, base = split_name(name)
    if base in DEPTHWISE_NAMES:
        _check("depthwise_conv2d", name, shape, "variable name %r" % base)
        return "depthwise_conv2d"
    if rank == 2:
        return "dense"
    if rank not in (3, 4, 5):
        return None
    parts = [p.lower() for p in _scope_parts(name)]
    own = parts[-1] if parts else ""
    enclosing = "/".join(parts[:-1])
    own_transpose = any(word in own for word in _TRANSPOSE_WORDS)
    own_depthwise = _DEPTHWISE_WORD in own
    if own_transpose and own_depthwise:
        raise ambiguous(name, shape, "its scope %r mentions both a "
                        "transposed and a depthwise conv" % own)
    if own_transpose:
        return kernel_kinds.default_kind(rank, transposed=True)
    if own_depthwise:
        if trust_depthwise_scope and rank == 4:
            return "depthwise_conv2d"
        raise ambiguous(name, shape, "its scope %r says depthwise but the "
                        "variable is not named depthwise_kernel or "
                        "depthwise_weights" % own)
    if any(word in enclosing
           for word in _TRANSPOSE_WORDS + (_DEPTHWISE_WORD,)):
        raise ambiguous(name, shape, "an enclosing scope (%r) mentions a "
                        "transposed or depthwise conv but the layer's own "
                        "scope %r does not" % (enclosing, own))
    return kernel_kinds.default_kind(rank)


def find_parents(names):
    """Maps each variable name to the variable it is a slot/shadow of.

    ``'dense/kernel/Adam'`` is a child of ``'dense/kernel'`` when both are in
    `names`; the longest existing prefix wins.

    Args:
      names: iterable of variable names.

    Returns:
      dict ``name -> parent name or None``.
    """
    present = set(names)
    parents = {}
    for name in present:
        parts = name.split("/")
        parent = None
        for cut in range(len(parts) - 1, 0, -1):
            candidate = "/".join(parts[:cut])
            if candidate in present:
                parent = candidate
                break
        parents[name] = parent
    return parents


def compile_filters(patterns, what):
    """Compiles include/exclude regexes (None, a string or a list)."""
    if not patterns:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as error:
            raise errors.CheckpointError("%s %r: bad regular expression: %s"
                                         % (what, pattern, error)) from None
    return compiled


def selected(name, include, exclude):
    """Whether `name` passes the include (any) and exclude (none) regexes."""
    if include and not any(r.search(name) for r in include):
        return False
    return not any(r.search(name) for r in exclude)
