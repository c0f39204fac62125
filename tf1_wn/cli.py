"""The ``tf1-wn`` command: inspect, convert and fold TF1 checkpoints;
build the native kernels ahead of time (``build-native``).

    tf1-wn inspect CKPT [--layout REGEX=KIND] [--json]
    tf1-wn convert CKPT OUT [--include REGEX] [--exclude REGEX]
                   [--layout REGEX=KIND] [--keep-slots] [--eps EPS]
                   [--dry-run] [--force] [--verify] [--from tfa|pixelcnn]
    tf1-wn fold CKPT OUT [--include/--exclude/--layout/--keep-slots]
                [--eps EPS] [--naming tf|slim] [--ws REGEX]
                [--variant paper|paper_tf|bit|timm] [--dry-run] [--force]

Exit status: 0 success, 1 an expected failure (a missing or corrupt
checkpoint, an unwritable or full disk, a failed native build: one line
``tf1-wn: error: ...`` on stderr; ``--debug`` shows the traceback), 2 a
usage error.
"""
import argparse
import json
import re
import sys
import warnings

# Nothing here imports TensorFlow at module level: --help, --version and
# usage errors answer at once, and a subcommand loads TensorFlow quietly
# (tf1_wn.quiet) before it runs.
from tf1_wn import quiet
from tf1_wn.checkpoint import InvalidLayoutError, names
from tf1_wn.kernel_kinds import WS_VARIANTS
from tf1_wn.version import __version__

PROG = "tf1-wn"

EPILOG = """\
exit status:
  0  success
  1  an expected failure: a missing or corrupt checkpoint, an unwritable or
     full disk, a failed native build (one line "tf1-wn: error: ..." on
     stderr; --debug shows the traceback)
  2  a usage error

Naming rules, layout detection and restoring a converted checkpoint:
docs/checkpoints.md in the tf1-wn repository."""


def _regex(value):
    try:
        re.compile(value)
    except re.error as error:
        raise argparse.ArgumentTypeError("bad regular expression %r: %s"
                                         % (value, error))
    return value


def _layout(value):
    try:
        names.compile_layout_hint(*names.split_layout_hint(value))
    except InvalidLayoutError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _add_debug(parser):
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error")


def _add_common(parser, outputs=True):
    parser.add_argument("checkpoint", metavar="CKPT",
                        help="checkpoint prefix, or a directory with a "
                        "'checkpoint' state file")
    if outputs:
        parser.add_argument("output", metavar="OUT",
                            help="output checkpoint prefix (or an existing "
                            "directory: the input's file name is kept)")
        parser.add_argument("--include", action="append", type=_regex,
                            metavar="REGEX", help="only layers whose kernel "
                            "(fold: v) name matches (re.search); repeatable")
        parser.add_argument("--exclude", action="append", type=_regex,
                            metavar="REGEX", help="leave matching layers "
                            "unchanged; repeatable")
        parser.add_argument("--keep-slots", action="store_true",
                            help="keep optimizer slots of replaced variables "
                            "under their old names (default: drop them)")
        parser.add_argument("--dry-run", action="store_true",
                            help="print the plan, write nothing")
        parser.add_argument("--force", action="store_true",
                            help="replace an existing output checkpoint")
        parser.add_argument("--allow-unchanged", action="store_true",
                            help="write an unchanged copy when nothing is "
                            "converted or folded (default: exit 1, nothing "
                            "written)")
        parser.add_argument("-v", "--verbose", action="store_true",
                            help="also list the variables copied unchanged")
    _add_debug(parser)
    parser.add_argument("--layout", action="append", type=_layout,
                        metavar="REGEX=KIND",
                        help="kernel kind for variables matching REGEX "
                        "(e.g. 'up[0-9]+/=conv2d_transpose'); repeatable")


def build_parser():
    """The argparse parser of the ``tf1-wn`` command."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Weight-normalize TF1 checkpoints and fold "
        "them back, keeping what the model computes.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version="%(prog)s " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    inspect = commands.add_parser(
        "inspect", help="list variables grouped by layer")
    _add_common(inspect, outputs=False)
    inspect.add_argument("--ws", action="append", type=_regex,
                         metavar="REGEX", help="mark matching kernels as "
                         "weight-standardized")
    inspect.add_argument("--json", action="store_true",
                         help="print JSON instead of a table")

    convert = commands.add_parser(
        "convert", help="plain kernels -> v, g (outputs unchanged)")
    _add_common(convert)
    convert.add_argument("--eps", type=float, default=0.0,
                         help="g = sqrt(sum(kernel**2) + EPS) (default 0)")
    convert.add_argument("--from", dest="from_format",
                         choices=("tfa", "pixelcnn"), default=None,
                         help="the input is another implementation's weight "
                         "norm: TF Addons' wrapper (kernel, g) or pixel-cnn's "
                         "nn.py (V, g, b); rename it to tf1-wn's v, g, bias")
    convert.add_argument("--verify", action="store_true",
                         help="after writing, run the .meta graph beside "
                         "CKPT with the original and the converted weights "
                         "on random inputs and print the largest "
                         "difference of every layer (exit 1 above 1e-4 "
                         "relative)")

    fold = commands.add_parser(
        "fold", help="v, g (and WS kernels) -> plain kernels")
    _add_common(fold)
    fold.add_argument("--eps", type=float, default=None,
                      help="eps the WN layers used (default 1e-12)")
    fold.add_argument("--naming", choices=("tf", "slim"), default="tf",
                      help="name folded variables kernel/bias (tf) or "
                      "weights/biases (slim)")
    fold.add_argument("--ws", action="append", type=_regex, metavar="REGEX",
                      help="kernels that are weight-standardized without a "
                      "gain variable")
    fold.add_argument("--variant", choices=sorted(WS_VARIANTS),
                      help="variant of the weight-standardized kernels")

    native = commands.add_parser(
        "build-native", help="compile the fused CPU kernels now (they are "
        "otherwise compiled on first use)")
    native.add_argument("--dir", default=None,
                        help="output directory (default: the cache, "
                        "$TF1_WN_CACHE_DIR or ~/.cache/tf1_wn)")
    native.add_argument("--force", action="store_true",
                        help="rebuild even if a matching build exists")
    _add_debug(native)
    return parser


def _build_native(args):
    from tf1_wn import native_ops
    path = native_ops.build(directory=args.dir, force=args.force)
    print(path)


def _format_table(groups):
    lines = []
    for group in groups:
        title = group.scope or "(top level)"
        label = group.kind + (" [%s]" % group.layout if group.layout else "")
        lines.append("%s  --  %s" % (title, label))
        for entry in group.entries:
            lines.append("    %-40s %-18s %-9s %s" % (
                entry.name, entry.shape, entry.dtype, entry.role))
    counts = {}
    for group in groups:
        counts[group.kind] = counts.get(group.kind, 0) + 1
    lines.append("")
    lines.append("%d variable(s) in %d group(s): %s" % (
        sum(len(g.entries) for g in groups), len(groups),
        ", ".join("%d %s" % (n, k) for k, n in sorted(counts.items()))))
    return "\n".join(lines)


def _inspect(args):
    from tf1_wn import checkpoint
    groups = checkpoint.inspect_checkpoint(args.checkpoint,
                                           layouts=args.layout, ws=args.ws)
    if args.json:
        print(json.dumps([{"scope": g.scope, "kind": g.kind,
                           "layout": g.layout,
                           "variables": [e._asdict() for e in g.entries]}
                          for g in groups], indent=2))
    else:
        print(_format_table(groups))


def _transform(args):
    from tf1_wn import checkpoint
    common = dict(include=args.include, exclude=args.exclude,
                  layouts=args.layout, keep_slots=args.keep_slots,
                  dry_run=args.dry_run, force=args.force,
                  allow_unchanged=args.allow_unchanged)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", checkpoint.CheckpointWarning)
        if args.command == "convert":
            plan = checkpoint.convert_checkpoint(
                args.checkpoint, args.output, eps=args.eps,
                verify=args.verify, from_format=args.from_format, **common)
        else:
            eps = checkpoint.DEFAULT_EPS if args.eps is None else args.eps
            plan = checkpoint.fold_checkpoint(
                args.checkpoint, args.output, eps=eps, naming=args.naming,
                ws=args.ws, ws_variant=args.variant, **common)
    header = "%s %s -> %s%s" % (args.command, plan.input, plan.output,
                                " (dry run, nothing written)"
                                if args.dry_run else "")
    print(header)
    for line in plan.describe(verbose=args.verbose):
        print("  " + line)
    if not plan.changed:
        print("  nothing to %s" % args.command)
    if plan.written:
        print("wrote " + ", ".join(plan.written))
    for difference in getattr(plan, "verification", None) or ():
        print("verify %-40s max |diff| %.3g  relative %.3g" % difference)


def expected_errors():
    """The failures a user can cause (a bad file, path, disk or compiler):
    one line on stderr and exit status 1.  Anything else is a bug and keeps
    its traceback."""
    from tf1_wn.errors import CheckpointError, NativeOpsError
    tensorflow = quiet.import_tensorflow()
    return (CheckpointError, NativeOpsError, OSError,
            tensorflow.errors.OpError)


def _one_line(error):
    message = getattr(error, "message", None) or str(error) or repr(error)
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def main(argv=None):
    """Runs the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    expected = expected_errors()  # imports TensorFlow, quietly
    commands = {"build-native": _build_native, "inspect": _inspect,
                "convert": _transform, "fold": _transform}
    try:
        commands[args.command](args)
    except expected as error:
        if args.debug:
            raise
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
