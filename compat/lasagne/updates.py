"""Applying ``(variable, new_value)`` updates, and Lasagne-style optimizers
returning such updates."""
import collections

from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne._graph import is_variable


def _pairs(updates):
    if isinstance(updates, dict):
        updates = list(updates.items())
    try:
        pairs = [tuple(u) for u in updates]
    except TypeError:
        raise TypeError("updates must be a list of (variable, value) pairs or "
                        "a dict; got %r" % (updates,))
    for pair in pairs:
        if len(pair) != 2 or not is_variable(pair[0]):
            raise TypeError("updates: each entry must be a (tf.Variable, "
                            "value) pair; got %r" % (pair,))
    return pairs


def apply_updates(updates, name="apply_updates"):
    """One op assigning every pair simultaneously, like
    ``theano.function(updates=...)``.

    Every new value is computed before any variable is written (the
    assignments run under control dependencies on all values), so an update
    that reads a variable another update writes (``g <- g * inv``) sees the
    old value.

    Args:
      updates: list of ``(variable, new_value)`` pairs or a dict (e.g.
        `get_init_updates`).
      name: name of the returned op.

    Returns:
      A grouped `tf.Operation`.

    Raises:
      TypeError: for malformed pairs.
      ValueError: when a value's shape does not fit its variable.
    """
    validation.assert_graph_mode("apply_updates")
    pairs = _pairs(updates)
    values = []
    for variable, value in pairs:
        value = tf.convert_to_tensor(value,
                                     dtype=variable.dtype.base_dtype)
        if not value.shape.is_compatible_with(variable.shape):
            raise ValueError("updates: the value for %s has shape %s, the "
                             "variable %s" % (variable.name, value.shape,
                                              variable.shape))
        # identity() makes a fresh tensor even when the value is a variable
        # read, so it is materialized before the writes below.
        values.append(tf.identity(value))
    with tf.control_dependencies(values):
        assigns = [tf.assign(variable, value).op
                   for (variable, _), value in zip(pairs, values)]
    return tf.group(*assigns, name=name)


def sgd(loss_or_grads, params, learning_rate):
    """Plain SGD updates ``p <- p - learning_rate * grad``.

    Returns:
      An OrderedDict ``{param: new_value}``.
    """
    grads = gradients(loss_or_grads, params)
    return collections.OrderedDict(
        (p, p - learning_rate * g) for p, g in zip(params, grads))


def adam(loss_or_grads, params, learning_rate=0.001, beta1=0.9, beta2=0.999,
         epsilon=1e-8):
    """Lasagne's Adam updates (slot variables created here): the epsilon
    outside the square root, ``p - a_t * m / (sqrt(v) + epsilon)`` with
    ``a_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)``.  improved-gan's
    ``nn.adam_updates`` is another formula (`lasagne.nn.adam_updates`).

    Returns:
      An OrderedDict ``{variable: new_value}`` for `apply_updates`.
    """
    grads = gradients(loss_or_grads, params)
    dtype = params[0].dtype.base_dtype
    t_prev = tf.Variable(tf.zeros([], dtype), trainable=False, name="adam_t")
    updates = collections.OrderedDict()
    t = t_prev + 1
    a_t = learning_rate * tf.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    for p, g in zip(params, grads):
        m_prev = zeros_state(p, "adam_m")
        v_prev = zeros_state(p, "adam_v")
        m_t = beta1 * m_prev + (1 - beta1) * g
        v_t = beta2 * v_prev + (1 - beta2) * g ** 2
        updates[m_prev] = m_t
        updates[v_prev] = v_t
        updates[p] = p - a_t * m_t / (tf.sqrt(v_t) + epsilon)
    updates[t_prev] = t
    return updates


def gradients(loss_or_grads, params):
    """The gradients of a loss (or the given list) for `params`.

    Raises:
      ValueError: a list of the wrong length, or a loss that does not
        depend on a parameter.
    """
    if isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise ValueError("got %d gradients for %d parameters"
                             % (len(loss_or_grads), len(params)))
        return list(loss_or_grads)
    grads = tf.gradients(loss_or_grads, params)
    missing = [p.name for p, g in zip(params, grads) if g is None]
    if missing:
        raise ValueError("the loss does not depend on %s" % missing)
    return grads


def zeros_state(like, name):
    """A non-trainable optimizer state variable of zeros shaped like the
    parameter `like` (in its dtype)."""
    return tf.Variable(tf.zeros(like.shape, like.dtype.base_dtype),
                       trainable=False, name=name)
