"""Network-level functions (Lasagne's ``layers/helper.py``): traversal,
building outputs, parameter lists and values, init updates."""

import numpy as np

from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne._graph import IdentitySet
from tf1_wn.compat.lasagne.base import InputLayer, Layer


def _as_layer_list(layer_or_layers, arg_name):
    if isinstance(layer_or_layers, Layer):
        return [layer_or_layers], True
    if isinstance(layer_or_layers, (list, tuple)) and layer_or_layers and all(
            isinstance(node, Layer) for node in layer_or_layers):
        return list(layer_or_layers), False
    raise TypeError("%s must be a Layer or a non-empty list of Layers; got %r"
                    % (arg_name, layer_or_layers))


def get_all_layers(layer, treat_as_input=None):
    """Every layer below and including `layer`, inputs first (Lasagne's
    order: a depth-first topological sort).

    Args:
      layer: a `Layer` or a list of them.
      treat_as_input: layers whose inputs are not followed.

    Returns:
      A list of layers, each once, every layer after its inputs.
    """
    layers, _ = _as_layer_list(layer, "layer")
    stop = IdentitySet()
    for node in treat_as_input or ():
        stop.add(node)
    done = IdentitySet()
    result = []
    # Iterative post-order DFS (deep stacks would exhaust recursion).
    stack = [(node, False) for node in reversed(layers)]
    while stack:
        current, expanded = stack.pop()
        if current in done:
            continue
        if expanded or current in stop or not current.input_layers:
            done.add(current)
            result.append(current)
            continue
        stack.append((current, True))
        for parent in reversed(current.input_layers):
            if parent not in done:
                stack.append((parent, False))
    return result


def get_output(layer_or_layers, inputs=None, **kwargs):
    """Builds the TF graph computing the output of one or more layers.

    Args:
      layer_or_layers: a `Layer` or a list of layers.
      inputs: None (each `InputLayer` uses its ``input_var``), a tensor or
        NumPy array (for the network's single `InputLayer`), or a dict mapping
        layers (any layer, not only inputs) to tensors or arrays.
      **kwargs: passed to every layer's ``get_output_for``: ``init=True``
        for data-dependent init (each `WeightNormLayer` then stores its
        ``init_updates``), ``deterministic=True`` to disable dropout/noise.

    Returns:
      A tensor, or a list of tensors for a list of layers.

    Raises:
      RuntimeError: when eager execution is active.
      ValueError: when an input has an incompatible shape, or a single input
        is given to a network with several `InputLayer`s.
    """
    validation.assert_graph_mode("get_output")
    layers, single = _as_layer_list(layer_or_layers, "layer_or_layers")
    given = {}
    if isinstance(inputs, dict):
        for key, value in inputs.items():
            if not isinstance(key, Layer):
                raise TypeError("inputs dict keys must be Layers; got %r"
                                % (key,))
            given[id(key)] = (key, value)
    elif inputs is not None:
        input_layers = [node for node in get_all_layers(layers)
                        if isinstance(node, InputLayer)]
        if len(input_layers) != 1:
            raise ValueError(
                "inputs: a single input needs a network with exactly one "
                "InputLayer, found %d; pass a dict {layer: input}"
                % len(input_layers))
        given[id(input_layers[0])] = (input_layers[0], inputs)
    treat = [layer for layer, _ in given.values()]
    outputs = {}
    for layer, value in given.values():
        tensor = tf.convert_to_tensor(value, dtype=layer.dtype)
        if not tensor.shape.is_compatible_with(layer.output_shape):
            raise ValueError("inputs: the input for %r has shape %s, "
                             "incompatible with the layer's output shape %r"
                             % (layer, tensor.shape, layer.output_shape))
        outputs[id(layer)] = tensor
    for layer in get_all_layers(layers, treat_as_input=treat):
        if id(layer) in outputs:
            continue
        if isinstance(layer, InputLayer):
            outputs[id(layer)] = layer.input_var
            continue
        if layer.input_layer is None:  # a MergeLayer reads a list
            layer_input = [outputs[id(node)] for node in layer.input_layers]
        else:
            layer_input = outputs[id(layer.input_layer)]
        with layer.graph.as_default(), tf.name_scope(layer.scope):
            outputs[id(layer)] = layer.get_output_for(layer_input, **kwargs)
    result = [outputs[id(node)] for node in layers]
    return result[0] if single else result


def get_all_params(layer, unwrap_shared=True, **tags):
    """Parameters of every layer up to `layer`, in Lasagne's order (layer by
    layer from the inputs; within a layer, creation order: for a
    weight-normed block ``W``, then ``b``, ``g``).

    Args:
      layer: a `Layer` or list of layers.
      unwrap_shared: accepted for compatibility.
      **tags: filters, e.g. ``trainable=True``, ``regularizable=True``;
        ``tag=False`` keeps parameters without that tag.

    Returns:
      A list of `tf.Variable`, each once.
    """
    seen = IdentitySet()
    params = []
    for node in get_all_layers(layer):
        for p in node.get_params(unwrap_shared=unwrap_shared, **tags):
            if p not in seen:
                seen.add(p)
                params.append(p)
    return params


def get_all_param_names(layer, **tags):
    """Lasagne names (``W``, ``b``, ``g`` or ``name.W``) of
    `get_all_params(layer, **tags)`, in the same order."""
    names = []
    owners = {}
    for node in get_all_layers(layer):
        for p in node.params:
            owners.setdefault(id(p), node)
    for p in get_all_params(layer, **tags):
        names.append(owners[id(p)].param_name(p))
    return names


def _session(session):
    session = session or tf.get_default_session()
    if session is None:
        raise RuntimeError("no session: pass session= or call inside "
                           "`with tf.Session() as sess:` (a default session)")
    return session


def count_params(layer, **tags):
    """Total number of scalar parameters (Lasagne's ``count_params``)."""
    return int(sum(np.prod(p.shape.as_list())
                   for p in get_all_params(layer, **tags)))


def get_all_param_values(layer, session=None, **tags):
    """Current values of `get_all_params(layer, **tags)`.

    Args:
      layer: a `Layer` or list of layers.
      session: a `tf.Session`; default: the default session.
      **tags: filters as in `get_all_params`.

    Returns:
      A list of NumPy arrays, in `get_all_params` order.

    Raises:
      RuntimeError: with no session.
    """
    params = get_all_params(layer, **tags)
    return list(_session(session).run(params))


def set_all_param_values(layer, values, session=None, **tags):
    """Loads values (e.g. Lasagne's ``get_all_param_values`` output) into
    `get_all_params(layer, **tags)`.

    Values are fed into each variable's initializer, so repeated calls do not
    grow the graph.

    Args:
      layer: a `Layer` or list of layers.
      values: a sequence of arrays, in `get_all_params` order.
      session: a `tf.Session`; default: the default session.
      **tags: filters as in `get_all_params`.

    Raises:
      ValueError: if the number of values differs from the number of
        parameters, or a value's shape differs (naming the parameter, the
        expected and the given shape).
      RuntimeError: with no session.
    """
    params = get_all_params(layer, **tags)
    names = get_all_param_names(layer, **tags)
    try:
        values = list(values)
    except TypeError:
        raise TypeError("values must be a sequence of arrays; got %r"
                        % (values,))
    if len(values) != len(params):
        raise ValueError("mismatch: got %d values to set %d parameters (%s)"
                         % (len(values), len(params), ", ".join(names)))
    arrays = []
    for p, name, v in zip(params, names, values):
        v = np.asarray(v)
        expected = tuple(p.shape.as_list())
        if v.shape != expected:
            raise ValueError("parameter %r (%s): expected shape %r, got shape "
                             "%r" % (name, p.name, expected, v.shape))
        arrays.append(v.astype(p.dtype.base_dtype.as_numpy_dtype))
    session = _session(session)
    for p, v in zip(params, arrays):
        session.run(p.initializer, {p.initializer.inputs[1]: v})


def get_init_updates(layer):
    """The ``(variable, new_value)`` pairs of the last init pass.

    Collects ``init_updates`` of every layer up to `layer` (inputs first),
    as set by `get_output(..., init=True)`.

    Args:
      layer: a `Layer` or list of layers.

    Returns:
      A list of pairs, for `apply_updates`.

    Raises:
      RuntimeError: if no layer has init updates (no init pass built yet).
    """
    updates = []
    found = False
    for node in get_all_layers(layer):
        layer_updates = getattr(node, "init_updates", None)
        if layer_updates is not None:
            found = True
            updates.extend(layer_updates)
    if not found:
        raise RuntimeError("no init updates: build the init pass first with "
                           "get_output(layer, x, init=True)")
    return updates


def get_bn_updates(layer):
    """The running-average updates of every batch-norm layer up to `layer`
    (`MeanOnlyBNLayer`, improved-gan's and Lasagne's `BatchNormLayer`) from
    its last training-mode `get_output` (empty list if none)."""
    updates = []
    for node in get_all_layers(layer):
        updates.extend(getattr(node, "bn_updates", None) or [])
    return updates


def get_output_shape(layer_or_layers, input_shapes=None):
    """The output shape of `layer_or_layers` (a layer or a list), computed
    from the layers' shape rules.

    Args:
      layer_or_layers: a `Layer` or a list of them.
      input_shapes: None (the networks' own shapes), a shape tuple for the
        single `InputLayer`, or a dict mapping layers to the shapes to use
        in their place.

    Returns:
      A shape tuple, or a list of them for a list.

    Raises:
      ValueError: a tuple `input_shapes` for a network with several inputs.
    """
    layers, single = _as_layer_list(layer_or_layers, "layer_or_layers")
    if not input_shapes:
        shapes = [node.output_shape for node in layers]
        return shapes[0] if single else shapes
    given = dict(input_shapes) if isinstance(input_shapes, dict) else {}
    inputs = [node for node in get_all_layers(layers, list(given))
              if isinstance(node, InputLayer) and node not in given]
    if not isinstance(input_shapes, dict):
        if len(inputs) != 1:
            raise ValueError(
                f"input_shapes as a tuple needs a network with one "
                f"InputLayer, got {len(inputs)}; pass a dict")
        given[inputs[0]] = tuple(input_shapes)
    shapes = {}
    for node in get_all_layers(layers, list(given)):
        if node in given:
            shape = tuple(given[node])
        elif isinstance(node, InputLayer):
            shape = node.output_shape
        elif len(node.input_layers) > 1 or hasattr(node, "input_shapes"):
            shape = node.get_output_shape_for(
                [shapes[id(parent)] for parent in node.input_layers])
        else:
            shape = node.get_output_shape_for(
                shapes[id(node.input_layers[0])])
        shapes[id(node)] = shape
    result = [shapes[id(node)] for node in layers]
    return result[0] if single else result
