"""Recomputing a layer's normalized kernel for its gradient.

A weight-normalized conv keeps its kernel ``w = g * v / ||v||`` (a
weight-standardized one its standardized kernel) from the forward op to
the gradient of the op's input, which needs it; a plain conv reads its
kernel variable and keeps nothing.  Over a model that is one more
kernel-sized tensor per layer at the step's peak (PixelCNN++: 8.5% more).
Inside `recompute_kernels()` the layers built drop `w` after the forward op
and the gradient computes it again from ``v`` and ``g`` (or the kernel and
its gain) once the upstream gradient has arrived: the same values, one more
normalization per layer and step (one native op on the CPU).

The gradient is one function over ``IdentityN`` (registered once), which
rebuilds the layer's op on the recomputed kernel and differentiates that.
A graph imported from a MetaGraph has lost the rebuilding code; its
gradients then go through the forward ops, as without recomputing, in a
program that imports tf1-wn (which registers the gradient).

Layers inside ``tf.while_loop`` and ``tf.cond`` recompute too, with TF1's
control flow (v1) and TF2's (v2).
"""
import contextlib
import threading
import weakref

from tf1_wn._tf import tf

_GRADIENT = "Tf1WnRecomputedKernel"
_state = threading.local()
# graph -> {IdentityN op name: (apply, normalize)}
_REBUILDERS = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def recompute_kernels(enabled=True):
    """Layers built inside recompute their kernel for the gradient.

    Args:
      enabled: False turns recomputing off inside an enclosing scope.

    Yields:
      None.

    Raises:
      TypeError: `enabled` is not a bool.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"`enabled` must be True or False, got {enabled!r}.")
    previous = active()
    _state.enabled = enabled
    try:
        yield
    finally:
        _state.enabled = previous


def active():
    """Whether layers built here recompute their kernel (this thread)."""
    return getattr(_state, "enabled", False)


def product(apply, normalize, inputs, parameters):
    """``apply(inputs, normalize(*parameters))`` whose gradient recomputes
    the kernel.

    Args:
      apply: ``apply(inputs, kernel)``, the layer's op.
      normalize: ``normalize(*parameters)``, the kernel.
      inputs: the op's input tensor.
      parameters: what the kernel is computed from (variables or tensors:
        ``v, g`` of a weight-normalized layer, the kernel and its gain of a
        weight-standardized one).

    Returns:
      The op's output.
    """
    inputs = tf.convert_to_tensor(inputs)
    parameters = [tf.convert_to_tensor(p) for p in parameters]
    outputs = apply(inputs, normalize(*parameters))
    graph = tf.get_default_graph()
    with graph.gradient_override_map({"IdentityN": _GRADIENT}):
        result = tf.identity_n([outputs, inputs] + parameters)[0]
    _REBUILDERS.setdefault(graph, {})[result.op.name] = (apply, normalize)
    return result


@tf.RegisterGradient(_GRADIENT)
def _recomputed_kernel_gradient(op, upstream, *unused):
    del unused
    _, inputs, *parameters = op.inputs
    rebuild = _REBUILDERS.get(op.graph, {}).get(op.name)
    if rebuild is None:
        # Through the forward ops, which TensorFlow then differentiates
        # (from `outputs` back to `inputs` and `parameters`) as usual.
        return [upstream] + [None] * (1 + len(parameters))
    apply, normalize = rebuild
    with tf.device(op.device or None):
        # The op is rebuilt on identities made here, in the gradient's own
        # graph and control-flow context, and differentiated with respect
        # to them: inside a loop or a branch the forward tensors reach this
        # context through other tensors (captures, accumulators), so
        # `tf.gradients` with respect to the forward tensors would find no
        # path.  The control input makes the kernel's recomputation wait
        # for the backward pass to reach this layer.
        local_inputs = tf.identity(inputs)
        with tf.control_dependencies([upstream]):
            local_parameters = [tf.identity(p) for p in parameters]
        kernel = normalize(*local_parameters)
        inputs_grad, kernel_grad = tf.gradients(
            apply(local_inputs, kernel), [local_inputs, kernel],
            grad_ys=upstream)
        parameter_grads = tf.gradients(kernel, local_parameters,
                                       grad_ys=kernel_grad)
    return [None, inputs_grad] + parameter_grads
