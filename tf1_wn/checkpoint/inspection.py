"""What a checkpoint holds, layer by layer (`tf1-wn inspect`).

Pure Python: classifies variable names and shapes into layer groups marked
``plain`` (a ``kernel``/``weights``), ``weight-normalized`` (``v`` + ``g``),
``weight-normalized cell`` (``input/v``... + ``recurrent/v``...),
``TF1 cell``, ``weight-standardized`` (``kernel`` + ``gain``, or a kernel
named by the caller) or ``other``.
"""
import collections

import numpy as np

from tf1_wn import checkpoint_errors as errors
from tf1_wn import checkpoint_names as names_mod
from tf1_wn import checkpoint_plan as plan_mod

#: One variable: name, shape (list), dtype name, role (``kernel``, ``v``,
#: ``g``, ``bias``, ``gain``, ``input/v``..., ``slot of X``,
#: ``moving average of X``, ``other``).
Entry = collections.namedtuple("Entry", ["name", "shape", "dtype", "role"])

#: One layer group: scope, kind (see the module doc), layout (kernel kind,
#: ``'ambiguous'`` or ''), entries.
LayerGroup = collections.namedtuple("LayerGroup",
                                    ["scope", "kind", "layout", "entries"])

_ROLES = set(names_mod.KERNEL_NAMES + names_mod.DEPTHWISE_NAMES
             + names_mod.BIAS_NAMES + ("v", "g", "gain"))


def _dtype_name(dtype):
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


def classify(variables, layouts_hints=None, ws=None):
    """Groups checkpoint variables by layer.

    Args:
      variables: dict ``name -> VariableInfo``.
      layouts_hints: ``{regex: kind}`` or ``['REGEX=KIND']``.
      ws: regexes of kernels to mark weight-standardized without a gain.

    Returns:
      A list of `LayerGroup`, sorted by scope.
    """
    hints = names_mod.parse_layouts(layouts_hints)
    ws_filters = names_mod.compile_filters(ws, "ws pattern")
    parents = names_mod.find_parents(variables)
    split, join = names_mod.split_name, names_mod.join_name

    def root(name):
        while parents[name] is not None:
            name = parents[name]
        return name

    def wn_cell_scope(scope):
        parent, last = split(scope)
        if last in ("input", "recurrent") and all(
                join(parent, p) in variables
                for p in ("input/v", "input/g", "recurrent/v",
                          "recurrent/g")):
            return parent
        return None

    def group_of(primary):
        scope, _ = split(primary)
        cell = wn_cell_scope(scope)
        return cell if cell is not None else scope

    members = collections.defaultdict(list)
    for name in sorted(variables):
        members[group_of(root(name))].append(name)

    groups = []
    for scope in sorted(members):
        names = members[scope]
        kind, layout = "other", ""
        local = {n[len(scope) + 1:] if scope else n for n in names
                 if parents[n] is None}
        try:
            if "input/v" in local and "recurrent/v" in local:
                kind, layout = "weight-normalized cell", "dense"
            elif "v" in local and "g" in local:
                kind = "weight-normalized"
                layout = plan_mod.fold_kind(variables, hints, join(scope, "v"),
                                            join(scope, "g"))
            else:
                kernels = [b for b in names_mod.KERNEL_NAMES
                           + names_mod.DEPTHWISE_NAMES if b in local]
                if kernels:
                    kname = join(scope, kernels[0])
                    hint = names_mod.hinted_kind(kname, hints)
                    cell = (names_mod.cell_kind(kname, hint)
                            if kernels[0] in names_mod.KERNEL_NAMES else None)
                    if "gain" in local or any(r.search(kname)
                                              for r in ws_filters):
                        kind = "weight-standardized"
                        layout = names_mod.layer_kind(
                            kname, variables[kname].shape, hint) or ""
                    elif cell is not None:
                        kind, layout = "TF1 cell", cell
                    else:
                        layout = names_mod.layer_kind(
                            kname, variables[kname].shape, hint)
                        kind = "plain" if layout else "other"
                        layout = layout or ""
        except errors.AmbiguousLayoutError:
            layout = "ambiguous"
        except errors.InvalidLayoutError:
            layout = "invalid"
        entries = []
        for name in names:
            info = variables[name]
            parent = parents[name]
            if parent is not None:
                suffix = name[len(parent) + 1:]
                role = ("moving average of %s" if suffix ==
                        names_mod.EMA_SUFFIX else "slot of %s") % split(
                            parent)[1]
            else:
                rel = name[len(scope) + 1:] if scope else name
                role = rel if (rel in _ROLES or kind.endswith("cell")
                               and rel.count("/") == 1
                               and split(rel)[1] in ("v", "g")) else "other"
            entries.append(Entry(name, list(info.shape),
                                 _dtype_name(info.dtype), role))
        groups.append(LayerGroup(scope, kind, layout, entries))
    return groups
