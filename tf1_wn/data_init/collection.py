"""The INIT_OPS collection, `init_op` and the EMA helper `sync_ema`."""
import weakref

from tf1_wn import validation
from tf1_wn._tf import tf

#: Graph collection holding the assign ops of every data-dependent init pass.
INIT_OPS = "tf1_wn_init_ops"

# Per graph: (scope, name, the grouped ops) -> the op `init_op` returned.
_GROUPED = weakref.WeakKeyDictionary()


def add_init_op(op):
    """Adds `op` to the `INIT_OPS` collection of the default graph."""
    tf.add_to_collection(INIT_OPS, op)
    return op


def init_op(scope=None, name="tf1_wn_data_init"):
    """Groups the data-init assign ops into one op.

    Build the model once with ``init=True`` on an init batch, then run the
    returned op once with that batch fed: every layer's g and bias are set in
    a single ``session.run``.  Calling it again while the collection holds
    the same ops returns the same op (no new op, so it also works on a
    finalized graph once it was called before finalizing).

    Args:
      scope: optional name-scope prefix (a regular expression matched with
        `re.match` against op names, as `tf.get_collection` does); only ops
        under it are grouped.
      name: name of the grouped op.

    Returns:
      A `tf.Operation`.

    Raises:
      RuntimeError: in eager mode.
      ValueError: if no data-init op matches (no layer was built with
        ``init=True``, or `scope` matches none of them).
    """
    validation.assert_graph_mode("tf1_wn.init_op")
    ops = tf.get_collection(INIT_OPS, scope)
    if not ops:
        where = f" under scope {scope!r}" if scope else ""
        raise ValueError(
            f"No data-init ops found{where}: build the layers with init=True "
            "(or call cell.data_init) before calling tf1_wn.init_op.")
    graph = tf.get_default_graph()
    key = (scope, name, tuple(op.name for op in ops))
    grouped = _GROUPED.setdefault(graph, {})
    if key not in grouped:
        grouped[key] = tf.group(*ops, name=name)
    return grouped[key]


def sync_ema(ema, var_list=None, name="sync_ema"):
    """Returns an op copying current variable values into their EMA shadows.

    Run it after data-dependent init so the averaged (test-time) model starts
    from the initialized g and bias rather than from their pre-init values.

    Args:
      ema: a `tf.compat.v1.train.ExponentialMovingAverage` whose `apply` has
        been called.
      var_list: variables to synchronize; default every global variable
        that `ema` averages.
      name: name of the grouped op.

    Returns:
      A `tf.Operation`.

    Raises:
      TypeError: if `ema` is not an ExponentialMovingAverage.
      ValueError: if a variable in `var_list` has no average.
    """
    validation.assert_graph_mode("tf1_wn.sync_ema")
    if not isinstance(ema, tf.train.ExponentialMovingAverage):
        raise TypeError(
            "`ema` must be a tf.compat.v1.train.ExponentialMovingAverage, got "
            f"{type(ema).__name__}.")
    if var_list is None:
        var_list = [v for v in tf.global_variables()
                    if ema.average(v) is not None]
    assigns = []
    for variable in var_list:
        shadow = ema.average(variable)
        if shadow is None:
            raise ValueError(
                f"`var_list` contains {variable.name}, which `ema` does not "
                "average: pass it to ema.apply() first.")
        assigns.append(tf.assign(shadow, variable.read_value()))
    return tf.group(*assigns, name=name)
