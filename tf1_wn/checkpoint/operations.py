"""The file-level operations behind ``tf1-wn inspect / convert / fold``:
read a checkpoint, plan the change, write the result safely.  Exported by
the package as `tf1_wn.checkpoint.convert_checkpoint` etc."""
import os
import sys

from tf1_wn.checkpoint import files
from tf1_wn.checkpoint import foreign_plan
from tf1_wn.checkpoint import graph_evidence
from tf1_wn.checkpoint import inspection
from tf1_wn.checkpoint import verification
from tf1_wn.checkpoint.convert_plan import plan_convert
from tf1_wn.checkpoint.errors import CheckpointError
from tf1_wn.checkpoint.fold_plan import plan_fold
from tf1_wn.normalization import DEFAULT_EPS


def _check_eps(eps):
    if not eps >= 0:
        raise CheckpointError(
            f"eps must be a non-negative number, got {eps!r}")


#: Why a checkpoint may have nothing to convert or fold, per operation.
_NOTHING_HINTS = {
    "convert": "no plain kernel (kernel, weights, depthwise_kernel) was "
    "selected; a weight-normalized checkpoint is folded with fold, and "
    "pixel-cnn (V, g, b) or TF Addons (kernel, g) checkpoints convert with "
    "--from pixelcnn / --from tfa",
    "fold": "no weight-normalized layer (v and g, or pixel-cnn's V and g) "
    "and no weight-standardized kernel was selected; a plain checkpoint "
    "has nothing to fold",
}


def _run(plan, contents, output, dry_run, force, allow_unchanged=False):
    plan.input = contents.prefix
    plan.output = files.output_prefix(output, contents.prefix)
    plan.written = []
    if not plan.changed and not allow_unchanged:
        raise CheckpointError(
            f"nothing to {plan.operation} in {contents.prefix!r}: "
            f"{_NOTHING_HINTS[plan.operation]}. Nothing was written; pass "
            "allow_unchanged=True (--allow-unchanged) for an unchanged copy")
    if contents.has_object_graph:
        plan.warnings.append(
            "%r is an object-based (tf.train.Checkpoint) checkpoint; its "
            "object graph describes the old names and is not carried over: "
            "the result is a name-based (tf.train.Saver) checkpoint"
            % contents.prefix)
    if not dry_run:
        files.check_output(plan.output, contents.files, force)
    plan.emit_warnings()
    if dry_run:
        return plan
    bar = _progress_bar(plan)
    try:
        plan.written = files.write_checkpoint(
            plan.output, plan.batches(contents.read), force=force,
            input_files=contents.files,
            progress=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    return plan


def _progress_bar(plan):
    """A tqdm bar over the variables written, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return tqdm(total=plan.target_count(), unit="var", file=sys.stderr,
                desc=f"{plan.operation} {os.path.basename(plan.output)}",
                leave=False)


def convert_checkpoint(checkpoint, output, include=None, exclude=None,
                       layouts=None, keep_slots=False, eps=0.0,
                       dry_run=False, force=False, verify=False,
                       from_format=None, allow_unchanged=False):
    """Weight-normalizes the plain kernels of a checkpoint.

    ``<scope>/kernel`` (or tf_slim's ``weights``) becomes ``<scope>/v`` (the
    kernel, unchanged) and ``<scope>/g`` (its per-output-channel L2 norm);
    ``<scope>/biases`` becomes ``<scope>/bias``; a TF1 cell kernel
    ``[d + n, k * n]`` becomes ``input/v``, ``input/g``, ``recurrent/v``,
    ``recurrent/g``.  A tf1_wn model built under the same scopes then
    computes what the plain model did.  Everything else is copied.

    Args:
      checkpoint: input checkpoint prefix, or a directory with a
        ``checkpoint`` state file.  Never modified.
      output: output prefix, or an existing directory (the input's file
        name is kept).
      include: regex (or list) searched in kernel names; only matching
        kernels are converted.
      exclude: regex (or list); matching kernels are left unchanged.
      layouts: ``{regex: kind}`` layout hints (kinds in `HINT_KINDS`) for
        kernels whose layout the evidence does not settle (see
        `tf1_wn.checkpoint.layouts`: the ``.meta`` graph beside the
        checkpoint, the bias, the names).
      keep_slots: keep optimizer slots of converted kernels under their old
        names (default: dropped, with a `CheckpointWarning`).
      eps: ``g = sqrt(sum(kernel**2) + eps)``.  Default 0: ``g = ||kernel||``.
      dry_run: only plan; read no tensor, write nothing.
      force: replace an existing output checkpoint.
      verify: after writing, run the ``.meta`` graph with the original and
        with the converted weights on random inputs
        (`verification.verify_conversion`); the differences are in
        ``plan.verification``.
      from_format: None for a plain checkpoint, or another implementation's
        weight-norm checkpoint to bring to tf1-wn's names: ``'tfa'`` (TF
        Addons' wrapper) or ``'pixelcnn'`` (pixel-cnn's ``nn.py``); see
        `foreign_plan`.  `eps` does not apply.
      allow_unchanged: write an unchanged copy when nothing is converted
        (default: CheckpointError, nothing written).

    Returns:
      The `Plan` (``plan.describe()`` lists every step), with ``input``,
      ``output``, ``written`` (file list, empty for a dry run) and
      ``verification`` (a list of `verification.Difference`, or None).

    Raises:
      CheckpointNotFoundError: no checkpoint at `checkpoint`.
      OutputExistsError: `output` exists and not `force`.
      AmbiguousLayoutError: a kernel's layout needs a hint.
      NameCollisionError: e.g. both ``scope/kernel`` and ``scope/v`` exist.
      InvalidLayoutError, UnsupportedVariableError, CheckpointError (also
        for `verify` without a ``.meta`` graph or with `dry_run`, and when
        an output differs by more than `verification.TOLERANCE` relative:
        the output is written, the message names the ops).
    """
    _check_eps(eps)
    if verify and dry_run:
        raise CheckpointError("verify needs a written output: not with "
                              "dry_run (--dry-run)")
    if verify and from_format:
        raise CheckpointError("verify compares with a plain model: not with "
                              f"from_format={from_format!r} (--from)")
    contents = files.CheckpointContents(checkpoint)
    graph = graph_evidence.load(contents.prefix)
    if from_format is not None:
        plan = foreign_plan.plan_from(
            from_format, contents.variables, include=include,
            exclude=exclude, layouts_hints=layouts, keep_slots=keep_slots,
            graph=graph)
    else:
        plan = plan_convert(
            contents.variables, include=include, exclude=exclude,
            layouts_hints=layouts, keep_slots=keep_slots, eps=eps,
            graph=graph)
    plan = _run(plan, contents, output, dry_run, force, allow_unchanged)
    plan.verification = None
    if verify:
        plan.verification = verification.verify_conversion(
            contents.prefix, plan.output, plan, graph)
        wrong = [d for d in plan.verification
                 if not d.relative <= verification.TOLERANCE]
        if wrong:
            raise CheckpointError(
                "verify: the converted model differs from the original: "
                + "; ".join(f"{d.op} by {d.relative:.3g} relative"
                            for d in wrong)
                + f" (output written to {plan.output!r})")
    return plan


def fold_checkpoint(checkpoint, output, include=None, exclude=None,
                    layouts=None, keep_slots=False, eps=DEFAULT_EPS,
                    naming="tf", ws=None, ws_variant=None, dry_run=False,
                    force=False, allow_unchanged=False):
    """Folds weight-normalized (and weight-standardized) layers into plain
    kernels.

    ``<scope>/v`` + ``<scope>/g`` become ``<scope>/kernel = g * v /
    sqrt(sum(v**2) + eps)``; a WN cell's ``input/*`` + ``recurrent/*``
    become the TF1 cell ``kernel``; a WS ``kernel`` (with a ``gain``
    sibling, or matched by `ws`) becomes its standardized (times gain)
    kernel.  Everything else is copied.

    Args:
      checkpoint, output, include, exclude, layouts, keep_slots, dry_run,
        force, allow_unchanged: as in `convert_checkpoint`
        (include/exclude are searched in the ``v`` name, ``input/v`` for
        cells, the kernel name for WS).
      eps: the eps the WN layers were trained with (default the library's,
        1e-12).
      naming: ``'tf'`` (``kernel``/``bias``, ``depthwise_kernel``) or
        ``'slim'`` (``weights``/``biases``, ``depthwise_weights``).
      ws: regex (or list) of kernels that are weight-standardized without a
        ``gain`` variable.
      ws_variant: the WS variant (``'paper'``, ``'paper_tf'``, ``'bit'``,
        ``'timm'``) of WS kernels.

    Returns:
      The `Plan`, as in `convert_checkpoint`.

    Raises:
      As `convert_checkpoint`; CheckpointError for a WS kernel without a
      variant.
    """
    _check_eps(eps)
    contents = files.CheckpointContents(checkpoint)
    plan = plan_fold(
        contents.variables, include=include, exclude=exclude,
        layouts_hints=layouts, keep_slots=keep_slots, eps=eps, naming=naming,
        ws=ws, ws_variant=ws_variant,
        graph=graph_evidence.load(contents.prefix))
    return _run(plan, contents, output, dry_run, force, allow_unchanged)


def inspect_checkpoint(checkpoint, layouts=None, ws=None):
    """Lists a checkpoint's variables grouped by layer.

    Args:
      checkpoint: checkpoint prefix or directory.
      layouts: layout hints, as in `convert_checkpoint`.
      ws: regex (or list) of kernels to mark weight-standardized.

    Returns:
      A list of `inspection.LayerGroup` ``(scope, kind, layout,
      entries)``; kind is ``plain``, ``weight-normalized``,
      ``weight-normalized cell``, ``TF1 cell``, ``weight-standardized`` or
      ``other``; entries are ``(name, shape, dtype, role)``.

    Raises:
      CheckpointNotFoundError: no checkpoint at `checkpoint`.
    """
    contents = files.CheckpointContents(checkpoint)
    return inspection.classify(contents.variables, layouts, ws,
                               graph=graph_evidence.load(contents.prefix))


#: The command's verbs as functions: ``checkpoint.convert(...)`` is
#: ``tf1-wn convert ...`` (the long names stay).
convert = convert_checkpoint
fold = fold_checkpoint
inspect = inspect_checkpoint
