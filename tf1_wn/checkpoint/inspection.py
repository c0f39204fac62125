"""What a checkpoint holds, layer by layer (`tf1-wn inspect`).

Pure Python: classifies variable names and shapes into layer groups marked
``plain`` (a ``kernel``/``weights``), ``weight-normalized`` (``v`` + ``g``),
``weight-normalized cell`` (``input/v``... + ``recurrent/v``...),
``TF1 cell``, ``weight-standardized`` (``kernel`` + ``gain``, or a kernel
named by the caller) or ``other``.
"""
import collections

from tf1_wn import variable_names as vn
from tf1_wn.checkpoint import errors
from tf1_wn.checkpoint import layouts
from tf1_wn.checkpoint import names as names_mod
from tf1_wn.checkpoint.fold_plan import DIRECTION_NAMES, fold_kind

#: One variable: name, shape (list), dtype name, role (``kernel``, ``v``,
#: ``g``, ``bias``, ``gain``, ``input/v``..., ``slot of X``,
#: ``moving average of X``, ``other``).
Entry = collections.namedtuple("Entry", ["name", "shape", "dtype", "role"])

#: One layer group: scope, kind (see the module doc), layout (kernel kind,
#: ``'ambiguous'``, ``'invalid'`` or ''), entries.
LayerGroup = collections.namedtuple("LayerGroup",
                                    ["scope", "kind", "layout", "entries"])

_ROLES = set(names_mod.KERNEL_NAMES + names_mod.DEPTHWISE_NAMES
             + names_mod.BIAS_NAMES + (vn.DIRECTION, vn.GAIN, vn.WS_GAIN)
             + ("V", "b"))  # pixel-cnn's nn.py

split, join = names_mod.split_name, names_mod.join_name


def _group_scopes(variables, parents):
    """``scope -> member names``: each variable under its layer's scope
    (slots and shadows under their variable's, a WN cell's ``input/*`` and
    ``recurrent/*`` under the cell's)."""
    def root(name):
        while parents[name] is not None:
            name = parents[name]
        return name

    def group_of(primary):
        scope, _ = split(primary)
        parent, last = split(scope)
        if last in (vn.CELL_INPUT, vn.CELL_RECURRENT) and all(
                join(parent, part) in variables for part in vn.CELL_PARTS):
            return parent
        return scope

    members = collections.defaultdict(list)
    for name in sorted(variables):
        members[group_of(root(name))].append(name)
    return members


def _layout(compute):
    """``compute()``, or ``'ambiguous'``/``'invalid'`` when it raises so."""
    try:
        return compute()
    except errors.AmbiguousLayoutError:
        return "ambiguous"
    except errors.InvalidLayoutError:
        return "invalid"


def _plain_kind(variables, scope, local, hints, ws_filters, graph):
    """``(kind, layout)`` of a group holding a ``kernel``/``weights``, or
    ``('other', '')``."""
    kernels = [b for b in names_mod.KERNEL_NAMES + names_mod.DEPTHWISE_NAMES
               if b in local]
    if not kernels:
        return "other", ""
    name = join(scope, kernels[0])
    if not names_mod.is_float_dtype(variables[name].dtype):
        return "other", ""  # an int or string named "kernel" holds no weights
    shape = variables[name].shape
    hint = names_mod.hinted_kind(name, hints)
    cell = _layout(lambda: names_mod.cell_kind(name, hint)
                   if kernels[0] in names_mod.KERNEL_NAMES else None)
    if cell in ("ambiguous", "invalid"):
        return "other", cell
    channels = layouts.bias_channels(variables, scope)

    def kind():
        return layouts.resolve(name, shape, hint, graph=graph,
                               channels=channels)
    if vn.WS_GAIN in local or any(r.search(name) for r in ws_filters):
        return "weight-standardized", _layout(lambda: kind() or "")
    if cell is not None:
        return "TF1 cell", cell
    layout = _layout(kind)
    if layout and layout not in ("ambiguous", "invalid"):
        return "plain", layout
    return "other", layout or ""


def _group_kind(variables, scope, local, hints, ws_filters, graph):
    """``(kind, layout)`` of one group from its primary variables `local`
    (names relative to `scope`)."""
    if set(vn.CELL_PARTS) <= local:
        return "weight-normalized cell", "dense"
    for direction in DIRECTION_NAMES:  # tf1-wn's v, pixel-cnn's V
        if direction in local and vn.GAIN in local:
            return "weight-normalized", _layout(lambda: fold_kind(
                variables, hints, join(scope, direction),
                join(scope, vn.GAIN), graph=graph))
    return _plain_kind(variables, scope, local, hints, ws_filters, graph)


def _role(name, scope, kind, parent):
    """The role of variable `name` in its group (see `Entry`)."""
    if parent is not None:
        suffix = name[len(parent) + 1:]
        what = ("moving average of %s" if suffix == names_mod.EMA_SUFFIX
                else "slot of %s")
        return what % split(parent)[1]
    rel = name[len(scope) + 1:] if scope else name
    if rel in _ROLES or (kind.endswith("cell") and rel.count("/") == 1
                         and split(rel)[1] in (vn.DIRECTION, vn.GAIN)):
        return rel
    return "other"


def classify(variables, layouts_hints=None, ws=None, graph=None):
    """Groups checkpoint variables by layer.

    Args:
      variables: dict ``name -> VariableInfo``.
      layouts_hints: ``{regex: kind}`` or ``['REGEX=KIND']``.
      ws: regexes of kernels to mark weight-standardized without a gain.
      graph: the `graph_evidence.GraphEvidence` of the ``.meta`` graph, or
        None (the layouts come from `layouts.resolve`).

    Returns:
      A list of `LayerGroup`, sorted by scope.

    Raises:
      InvalidLayoutError: a malformed layout hint.
      CheckpointError: a bad `ws` regular expression.
    """
    hints = names_mod.parse_layouts(layouts_hints)
    ws_filters = names_mod.compile_filters(ws, "ws pattern")
    parents = names_mod.find_parents(variables)
    groups = []
    for scope, names in sorted(_group_scopes(variables, parents).items()):
        local = {n[len(scope) + 1:] if scope else n for n in names
                 if parents[n] is None}
        kind, layout = _group_kind(variables, scope, local, hints,
                                   ws_filters, graph)
        entries = [Entry(name, list(variables[name].shape),
                         names_mod.dtype_name(variables[name].dtype),
                         _role(name, scope, kind, parents[name]))
                   for name in names]
        groups.append(LayerGroup(scope, kind, layout, entries))
    return groups
