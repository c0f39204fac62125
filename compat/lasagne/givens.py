"""Theano's ``givens=`` for evaluating a model with other parameter values.

improved-gan evaluates its test error on the Polyak averages with
``th.function(..., givens=[(p, avg) for ...])``.  A TF1 graph cannot swap
a variable for another tensor after the fact, so `Givens` swaps the values:
build it with the graph, then::

    averaged = lasagne.Givens(zip(disc_params, disc_param_avg))
    with averaged.applied(sess):
        err = sess.run(test_err, feed)

Inside the block each parameter holds its replacement's value; on leaving
(also through an exception) every parameter gets its own value back,
bit for bit.
"""
import contextlib

from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne._graph import is_variable


class Givens:
    """Value swaps for ``(variable, replacement)`` pairs.

    Args:
      pairs: ``(variable, replacement)`` pairs; each replacement is a
        variable or tensor of the variable's shape and dtype.

    Raises:
      TypeError: an entry that is not a pair starting with a variable.
      ValueError: a replacement of another shape.
    """

    def __init__(self, pairs):
        pairs = [tuple(pair) for pair in pairs]
        for pair in pairs:
            if len(pair) != 2 or not is_variable(pair[0]):
                raise TypeError(f"givens: each entry must be a (tf.Variable, "
                                f"replacement) pair, got {pair!r}")
            replacement = tf.convert_to_tensor(pair[1]).shape
            if not pair[0].shape.is_compatible_with(replacement):
                raise ValueError(
                    f"givens: {pair[0].name} has shape "
                    f"{validation.shape_text(pair[0].shape)}, its "
                    f"replacement {validation.shape_text(replacement)}")
        with tf.name_scope("givens"):
            # Local: kept out of checkpoints; an assign initializes them.
            backups = [tf.Variable(tf.zeros(v.shape, v.dtype.base_dtype),
                                   trainable=False, name="backup",
                                   collections=[tf.GraphKeys.LOCAL_VARIABLES])
                       for v, _ in pairs]
            save = tf.group(*[tf.assign(b, v) for b, (v, _) in
                              zip(backups, pairs)])
            with tf.control_dependencies([save]):
                values = [tf.identity(r) for _, r in pairs]
            with tf.control_dependencies(values):
                self._swap_in = tf.group(*[
                    tf.assign(v, value) for (v, _), value in
                    zip(pairs, values)])
            self._restore = tf.group(*[tf.assign(v, b) for b, (v, _) in
                                       zip(backups, pairs)])

    @contextlib.contextmanager
    def applied(self, session):
        """Within the block the variables hold their replacements' values.

        Args:
          session: the session the model runs in.
        """
        session.run(self._swap_in)
        try:
            yield
        finally:
            session.run(self._restore)
