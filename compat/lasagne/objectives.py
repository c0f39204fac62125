"""``lasagne.objectives``: the losses and accuracies the scripts use, on
TF tensors, with Lasagne's semantics (element- or item-wise values; reduce
them with `aggregate`)."""
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne.reductions import theano_mean, theano_sum


def align_targets(predictions, targets):
    """Turns a 1-D `targets` into a column when `predictions` is a
    ``(N, 1)`` column, so they do not broadcast to ``(N, N)``."""
    if (predictions.shape.ndims == 2 and predictions.shape[1] == 1
            and targets.shape.ndims == 1):
        targets = targets[:, None]
    return predictions, targets


def binary_crossentropy(predictions, targets):
    """``-(t * log(p) + (1 - t) * log(1 - p))``, element-wise."""
    predictions, targets = align_targets(tf.convert_to_tensor(predictions),
                                         tf.convert_to_tensor(targets))
    targets = tf.cast(targets, predictions.dtype)
    return -(targets * tf.log(predictions)
             + (1 - targets) * tf.log(1 - predictions))


def categorical_crossentropy(predictions, targets):
    """``-sum_j t_j * log(p_j)`` per row; `targets` is a ``(N, C)``
    distribution or ``(N,)`` integer class indices."""
    predictions = tf.convert_to_tensor(predictions)
    targets = tf.convert_to_tensor(targets)
    if targets.shape.ndims == predictions.shape.ndims:
        return -theano_sum(tf.cast(targets, predictions.dtype)
                           * tf.log(predictions), axis=-1)
    return -tf.log(tf.gather(predictions, tf.cast(targets, tf.int32),
                             axis=1, batch_dims=1))


def squared_error(a, b):
    """``(a - b)**2``, element-wise."""
    a, b = align_targets(tf.convert_to_tensor(a), tf.convert_to_tensor(b))
    return tf.square(a - tf.cast(b, a.dtype))


def aggregate(loss, weights=None, mode="mean"):
    """Reduces an element- or item-wise loss to a scalar.

    Args:
      loss: the loss tensor.
      weights: optional weights broadcastable to `loss` (0 masks out).
      mode: ``'mean'``, ``'sum'`` or ``'normalized_sum'`` (the weighted sum
        over the sum of the weights).

    Raises:
      ValueError: another mode, or ``'normalized_sum'`` without weights.
    """
    if weights is not None:
        loss = loss * tf.cast(weights, loss.dtype)
    if mode == "mean":
        return theano_mean(loss)
    if mode == "sum":
        return theano_sum(loss)
    if mode == "normalized_sum":
        if weights is None:
            raise ValueError("require weights for mode='normalized_sum'")
        return theano_sum(loss) / theano_sum(
            tf.cast(weights, loss.dtype))
    raise ValueError(f"mode must be 'mean', 'sum' or 'normalized_sum', got "
                     f"{mode!r}")


def binary_accuracy(predictions, targets, threshold=0.5):
    """1 where ``predictions >= threshold`` equals the (0/1) target."""
    predictions, targets = align_targets(tf.convert_to_tensor(predictions),
                                         tf.convert_to_tensor(targets))
    hit = tf.equal(tf.cast(predictions >= threshold, tf.int32),
                   tf.cast(targets, tf.int32))
    return tf.cast(hit, predictions.dtype)


def categorical_accuracy(predictions, targets, top_k=1):
    """1 where the target class (an index, or the argmax of a
    distribution) is among the `top_k` predictions of its row."""
    predictions = tf.convert_to_tensor(predictions)
    targets = tf.convert_to_tensor(targets)
    if targets.shape.ndims == predictions.shape.ndims:
        targets = tf.argmax(targets, axis=-1)
    hit = tf.nn.in_top_k(tf.cast(predictions, tf.float32),
                         tf.cast(targets, tf.int32), top_k)
    return tf.cast(hit, predictions.dtype)


__all__ = ["align_targets", "binary_crossentropy", "categorical_crossentropy",
           "squared_error", "aggregate", "binary_accuracy",
           "categorical_accuracy"]
