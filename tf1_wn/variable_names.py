"""The names of the variables tf1-wn creates, in one place.

Checkpoints and saved graphs hold these names, so they never change: the
layers, the recurrent cells and the checkpoint tools all take them from
here.  A weight-normalized layer has ``<scope>/v``, ``<scope>/g`` and
``<scope>/bias``; a weight-standardized one ``<scope>/kernel``,
``<scope>/gain`` and ``<scope>/bias``; a cell projection
``<scope>/input/{v,g}``, ``<scope>/recurrent/{v,g}`` and ``<scope>/bias``.
"""
#: The direction of a weight-normalized kernel, in the plain kernel layout.
DIRECTION = "v"
#: The per-output-channel gain of a weight-normalized kernel.
GAIN = "g"
#: The per-output-channel bias of every layer and cell projection.
BIAS = "bias"
#: The raw kernel of a weight-standardized layer.
WS_KERNEL = "kernel"
#: The optional per-output-channel gain of a weight-standardized layer.
WS_GAIN = "gain"
#: The scopes of a cell projection's input and recurrent kernels.
CELL_INPUT = "input"
CELL_RECURRENT = "recurrent"
#: A weight-normalized cell's four variables, relative to its scope.
CELL_PARTS = tuple(f"{part}/{name}" for part in (CELL_INPUT, CELL_RECURRENT)
                   for name in (DIRECTION, GAIN))

__all__ = ["DIRECTION", "GAIN", "BIAS", "WS_KERNEL", "WS_GAIN", "CELL_INPUT",
           "CELL_RECURRENT", "CELL_PARTS"]
