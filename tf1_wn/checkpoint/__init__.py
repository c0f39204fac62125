"""Checkpoint tools: weight-normalize a trained TF1 model and fold it back.

    from tf1_wn import checkpoint
    checkpoint.convert_checkpoint('plain/model.ckpt-1000', 'wn/model.ckpt')
    checkpoint.fold_checkpoint('wn/model.ckpt-5000', 'export/model.ckpt')
    for layer in checkpoint.inspect_checkpoint('wn/model.ckpt-5000'): ...

The same operations as the ``tf1-wn`` command, also under the verbs' names:
`convert`, `fold`, `inspect` are `convert_checkpoint`, `fold_checkpoint`,
`inspect_checkpoint`.  See docs/checkpoints.md for the naming rules,
layout detection and policies (optimizer slots are dropped with a warning
unless ``keep_slots=True``; moving averages are converted alike).

In-graph helpers (no files): `assign_from_kernel`, `assign_cell_from_kernel`,
`folded_kernel`, `folded_cell_kernel`, `kernel_norm`.

The package's modules, one job each:

* ``errors``: the `CheckpointError` family;
* ``operations``: `convert`, `fold`, `inspect` on files;
* ``names``: TF1 naming conventions and kernel-kind inference from names;
* ``graph_evidence``, ``layouts``: each kernel's layout from the ``.meta``
  graph, the bias or g, the names (refused when they conflict or say
  nothing);
* ``kernel_math``: the norms on NumPy arrays;
* ``plan``, ``convert_plan``, ``fold_plan``, ``foreign_plan``: what becomes
  what (``foreign_plan``: ``--from tfa|pixelcnn``);
* ``inspection``: the layer groups of ``inspect``;
* ``verification``: ``convert --verify``;
* ``files``: reading and safely writing checkpoint files;
* ``graph_ops``: the same conversions as in-graph ops.
"""
import importlib

# Importing the package does not import TensorFlow (the ``tf1-wn`` command
# parses its arguments without it): each name loads its module on first use.
from tf1_wn.checkpoint.errors import (AmbiguousLayoutError, CheckpointError,
                                      CheckpointNotFoundError,
                                      CheckpointWarning, InvalidLayoutError,
                                      NameCollisionError, OutputExistsError,
                                      UnsupportedVariableError)
from tf1_wn.kernel_kinds import HINT_KINDS, WS_VARIANTS

_LAZY = {}
for _module, _names in (
        ("operations", ["convert_checkpoint", "fold_checkpoint",
                        "inspect_checkpoint", "convert", "fold", "inspect"]),
        ("graph_ops", ["assign_from_kernel", "assign_cell_from_kernel",
                       "folded_kernel", "folded_cell_kernel", "kernel_norm"]),
        ("plan", ["Plan", "Step"]),
        ("tf1_wn.normalization", ["DEFAULT_EPS"])):
    _LAZY.update(dict.fromkeys(_names, _module))
del _module, _names

__all__ = [
    "convert", "fold", "inspect",
    "convert_checkpoint", "fold_checkpoint", "inspect_checkpoint",
    "assign_from_kernel", "assign_cell_from_kernel", "folded_kernel",
    "folded_cell_kernel", "kernel_norm", "Plan", "Step", "HINT_KINDS",
    "WS_VARIANTS", "CheckpointError", "CheckpointNotFoundError",
    "OutputExistsError", "AmbiguousLayoutError", "NameCollisionError",
    "InvalidLayoutError", "UnsupportedVariableError", "CheckpointWarning",
]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'tf1_wn.checkpoint' has no attribute %r"
                             % name)
    if "." not in module:
        module = "tf1_wn.checkpoint." + module
    importlib.import_module("tf1_wn._tf")  # its ImportError says what to do
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
