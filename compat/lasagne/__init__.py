"""Lasagne mirror: Lasagne's (and improved-gan's) layers, names and numbers on
TF1 graphs.

Both spellings work::

    from tf1_wn.compat import lasagne
    lasagne.layers.DenseLayer(...), lasagne.nonlinearities.rectify,
    lasagne.init.Normal(0.05), lasagne.layers.get_output(...)
    lasagne.DenseLayer(...), lasagne.rectify, lasagne.get_output(...)

improved-gan's ``nn.py`` names are in `lasagne.nn` (and flat here).
Activations are NCHW, weights keep Lasagne's layouts, parameters are
`tf.Variable`s; the dtype follows the `InputLayer` (``dtype=`` or
`set_floatX`, float32 by default).  Graph mode only.
See docs/porting-lasagne.md.
"""
from tf1_wn.compat.lasagne import (init, layers, nn, nonlinearities,
                                   objectives, random, updates, utils)
from tf1_wn.compat.lasagne._graph import get_floatX, set_floatX
from tf1_wn.compat.lasagne.givens import Givens
from tf1_wn.compat.lasagne.layers import *  # noqa: F401,F403
from tf1_wn.compat.lasagne.layers import __all__ as _layer_names
from tf1_wn.compat.lasagne.nn import adam_updates
from tf1_wn.compat.lasagne.nonlinearities import *  # noqa: F401,F403
from tf1_wn.compat.lasagne.nonlinearities import __all__ as _nl_names
from tf1_wn.compat.lasagne.updates import adam, apply_updates, sgd

__all__ = ["init", "layers", "nn", "nonlinearities", "random", "updates",
           "utils", "objectives", "Givens",
           "get_floatX", "set_floatX", "apply_updates", "adam", "sgd",
           "adam_updates"]
__all__ += list(_layer_names)
__all__ += list(_nl_names)
