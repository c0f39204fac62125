"""Plans of `convert` and `fold`: which variables become which, and how.

Pure Python + NumPy.  A plan is built from the variable names, shapes and
dtypes of a checkpoint alone (so ``--dry-run`` never reads a tensor) and is
a list of `Step`s; `Plan.apply` then maps the source arrays to the result.
This module holds the plan and the bookkeeping both planners share; the
planners are `tf1_wn.checkpoint.convert_plan` and
`tf1_wn.checkpoint.fold_plan`.

Policies (docs/checkpoints.md):

* Optimizer slots of a converted/folded variable (``dense/kernel/Adam``,
  ``.../Momentum``, ...) belong to the old parametrization: dropped with a
  `CheckpointWarning` by default, or carried over under their old names with
  ``keep_slots=True``.  Slots of a renamed bias (``biases -> bias``) are
  renamed with it.
* ``ExponentialMovingAverage`` shadows of a converted kernel are converted
  the same way (``v/ExponentialMovingAverage``,
  ``g/ExponentialMovingAverage``), so the averaged model also computes what
  it did.
* Every other variable is copied unchanged.
"""
import collections
import warnings

import numpy as np

from tf1_wn.checkpoint import errors
from tf1_wn.checkpoint import names as names_mod

#: The size at which `Plan.batches` yields a batch of results.
BATCH_BYTES = 64 << 20

#: Everything a plan knows about one checkpoint variable.
VariableInfo = collections.namedtuple("VariableInfo", ["shape", "dtype"])

join = names_mod.join_name
split = names_mod.split_name


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


class Plan:
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
            lines.append(
                "copy         %d other variable(s) unchanged" % copies)
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
        for batch in self.batches(read, max_bytes=None):
            out.update(batch)
        return out

    def batches(self, read, max_bytes=BATCH_BYTES):
        """Runs the plan a bounded batch at a time.

        Each step's sources are read, transformed and kept until the batch
        holds `max_bytes` of results, which is then yielded and dropped, so
        memory stays within about one batch plus the largest step.

        Args:
          read: ``f(name) -> numpy array`` for the source checkpoint.
          max_bytes: the size at which a batch is yielded; None for one
            batch with everything.

        Yields:
          dicts ``target name -> numpy array``.
        """
        batch, size = {}, 0
        for step in self.steps:
            if not step.targets:
                continue
            arrays = [read(name) for name in step.sources]
            results = arrays if step.compute is None else step.compute(arrays)
            for target, value in zip(step.targets, results):
                batch[target] = value
                size += np.asarray(value).nbytes
            if max_bytes is not None and size >= max_bytes:
                yield batch
                batch, size = {}, 0
        if batch:
            yield batch

    def target_count(self):
        """The number of variables the result holds."""
        return sum(len(step.targets) for step in self.steps)

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


class Builder:
    """Shared bookkeeping of the convert and fold planners."""

    def __init__(self, variables, include, exclude, layout_hints, keep_slots,
                 graph=None):
        self.variables = dict(variables)
        self.graph = graph
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


def plan_bias_rename(b, scope, wanted):
    """Renames the layer's ``bias``/``biases`` to `wanted` (with its slots)
    unless another step already claimed it.

    Raises:
      NameCollisionError: the layer has both names.
    """
    present = [join(scope, n) for n in names_mod.BIAS_NAMES
               if b.primary(join(scope, n))]
    if len(present) > 1:
        raise errors.NameCollisionError(
            "name collision: layer %r has both %r and %r" % (
                scope, present[0], present[1]))
    if not present or present[0] in b.claimed:
        return
    target = join(scope, wanted)
    if present[0] != target:
        b.rename_with_children(present[0], target, "bias renamed")
