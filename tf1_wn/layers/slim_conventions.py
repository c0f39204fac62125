"""tf-slim's layer conventions, shared by every layer builder.

tf-slim layers put their variables in ``MODEL_VARIABLES`` (as
``slim.model_variable`` does, so ``slim.get_model_variables()`` and slim's
restore helpers see them), take ``variables_collections`` (a list for all
variables, or a dict keyed by variable name) and ``outputs_collections``
(the output is added under the layer's scope name as its alias, so
``slim.utils.convert_collection_to_dict`` works), add regularization losses
to ``REGULARIZATION_LOSSES`` once, when the variable is created, and freeze
every variable with ``trainable=False``.
"""
from tf_slim.layers import utils as slim_utils

from tf1_wn import validation
from tf1_wn._tf import tf

#: Keys a ``variables_collections`` dict may use besides the variable names
#: themselves: slim's names for the same roles.
SLIM_ALIASES = {"weights": ("v", "kernel"), "biases": ("bias",)}


def check_collections(name, value):
    """Validates a ``*_collections`` argument (None, a string, a list or
    tuple of strings, or for variables a dict of those).

    Raises:
      TypeError: naming the argument and the value.
    """
    def valid(entry):
        return entry is None or isinstance(entry, str) or (
            isinstance(entry, (list, tuple))
            and all(isinstance(key, str) for key in entry))

    ok = valid(value) or (name == "variables_collections"
                          and isinstance(value, dict)
                          and all(valid(v) for v in value.values()))
    if not ok:
        raise TypeError(
            f"`{name}` must be None, a collection name or a list of names"
            + (", or a dict from variable name to those"
               if name == "variables_collections" else "")
            + f"; got {value!r}")
    return value


def check_regularizer(name, value):
    """A regularizer is None or a callable taking a tensor."""
    validation.check_callable(name, value, example="tf_slim.l2_regularizer")
    return value


def variable_collections(variables_collections, variable_name):
    """The collections (besides GLOBAL, MODEL and TRAINABLE) a variable goes
    to: the whole argument if it is a list, the entry for `variable_name`
    (or its slim alias ``weights`` / ``biases``) if it is a dict."""
    if variables_collections is None:
        return []
    if isinstance(variables_collections, dict):
        entry = variables_collections.get(variable_name)
        for alias, names in SLIM_ALIASES.items():
            if entry is None and variable_name in names:
                entry = variables_collections.get(alias)
        variables_collections = entry
    if variables_collections is None:
        return []
    if isinstance(variables_collections, str):
        return [variables_collections]
    return list(variables_collections)


def collections_for(variables_collections, variable_name):
    """The full ``collections=`` of `tf.get_variable` for one variable."""
    extra = variable_collections(variables_collections, variable_name)
    base = [tf.GraphKeys.GLOBAL_VARIABLES, tf.GraphKeys.MODEL_VARIABLES]
    return base + [key for key in extra if key not in base]


_REGULARIZED = "tf1_wn_regularized_weights"


def add_weight_regularization(regularizer, variable, make_weight):
    """Adds ``regularizer(make_weight())`` to REGULARIZATION_LOSSES, once
    per `variable` (the first build of a layer; reuse adds nothing), as
    ``get_variable(regularizer=...)`` does for a plain kernel."""
    if regularizer is None:
        return
    graph = tf.get_default_graph()
    if any(seen is variable for seen in graph.get_collection(_REGULARIZED)):
        return
    graph.add_to_collection(_REGULARIZED, variable)
    # Named as get_variable names a variable's regularizer: <v>/Regularizer.
    with tf.name_scope(variable.op.name.split("/")[-1] + "/Regularizer"):
        loss = regularizer(make_weight())
    if loss is not None:
        graph.add_to_collection(tf.GraphKeys.REGULARIZATION_LOSSES, loss)


def collect_outputs(outputs_collections, scope_name, outputs):
    """slim's ``collect_named_outputs``: the output, aliased `scope_name`,
    in every collection of `outputs_collections` (a no-op for None)."""
    if outputs_collections is None:
        return outputs
    if isinstance(outputs_collections, str):
        outputs_collections = [outputs_collections]
    return slim_utils.collect_named_outputs(outputs_collections, scope_name,
                                            outputs)


def check_options(trainable=True, kernel_regularizer=None,
                  bias_regularizer=None, variables_collections=None,
                  outputs_collections=None):
    """Validates the tf-slim arguments; returns them as a dict.

    Raises:
      TypeError: a non-bool `trainable`, a non-callable regularizer or a
        malformed collections argument, naming it and the value.
    """
    if not isinstance(trainable, bool):
        raise TypeError(f"`trainable` must be True or False; got "
                        f"{trainable!r}")
    return dict(
        trainable=trainable,
        kernel_regularizer=check_regularizer("kernel_regularizer",
                                             kernel_regularizer),
        bias_regularizer=check_regularizer("bias_regularizer",
                                           bias_regularizer),
        variables_collections=check_collections("variables_collections",
                                                variables_collections),
        outputs_collections=check_collections("outputs_collections",
                                              outputs_collections))
