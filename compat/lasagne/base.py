"""`Layer`, `InputLayer` and parameter creation (Lasagne's ``base.py``,
``input.py`` and ``utils.create_param``)."""
import collections
import numbers
import re

import numpy as np

from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne._graph import (as_float_dtype, get_floatX,
                                          is_variable)


def _snake(name):
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


def create_param(spec, shape, name, dtype, trainable=True):
    """Turns a Lasagne parameter spec into a TF variable (or tensor).

    Args:
      spec: an existing `tf.Variable` (shared, used as is), a `tf.Tensor`
        (an expression: used as is, not a parameter), a NumPy array or nested
        list (the initial value), or a callable ``spec(shape)`` returning one
        (every `lasagne.init` initializer).
      shape: the expected shape (tuple of ints).
      name: the variable name (inside the caller's name scope).
      dtype: `tf.DType` of a new variable.
      trainable: whether a new variable joins TRAINABLE_VARIABLES.

    Returns:
      ``(value, is_variable)``.

    Raises:
      ValueError: when the given or produced value has another shape.
      TypeError: for an unsupported spec.
    """
    shape = tuple(int(s) for s in shape)
    if is_variable(spec):
        given = tuple(spec.shape.as_list())
        if given != shape:
            raise ValueError("parameter %r: expected shape %r, the given "
                             "variable has shape %r" % (name, shape, given))
        return spec, True
    if isinstance(spec, tf.Tensor):
        if not spec.shape.is_compatible_with(shape):
            raise ValueError("parameter %r: expected shape %r, the given "
                             "tensor has shape %s" % (name, shape, spec.shape))
        return spec, False
    if callable(spec):
        value = spec(shape)
        if (is_variable(value) or isinstance(value, tf.Tensor)):
            return create_param(value, shape, name, dtype, trainable)
        origin = "the initializer %r returned" % (spec,)
    elif isinstance(spec, (np.ndarray, list, tuple, numbers.Number)):
        value = spec
        origin = "the given array has"
    else:
        raise TypeError("parameter %r: expected a tf.Variable, tf.Tensor, "
                        "NumPy array or callable initializer; got %r"
                        % (name, spec))
    value = np.asarray(value)
    if value.shape != shape:
        raise ValueError("parameter %r: expected shape %r, %s shape %r"
                         % (name, shape, origin, value.shape))
    value = value.astype(dtype.as_numpy_dtype)
    return tf.Variable(value, name=name, dtype=dtype,
                       trainable=trainable), True


def _remove_from_collections(variable):
    """Takes a dropped parameter out of the graph's variable collections, so
    initializers, savers and optimizers ignore it."""
    graph = variable.graph
    for key in graph.get_all_collection_keys():
        ref = graph.get_collection_ref(key)
        for i in reversed(range(len(ref))):
            if ref[i] is variable:
                del ref[i]


class Layer(object):
    """Base class of every layer: one incoming layer, parameters with tags.

    Args:
      incoming: the `Layer` this layer reads.
      name: optional name; used in the TF name scope of its variables and
        ops, and (as Lasagne does) as prefix ``name.W`` of parameter names.

    Raises:
      RuntimeError: when eager execution is active.
      TypeError: when `incoming` is not a Layer.
    """

    def __init__(self, incoming, name=None):
        validation.assert_graph_mode(type(self).__name__)
        if not isinstance(incoming, Layer):
            raise TypeError("incoming must be a lasagne Layer; got %r"
                            % (incoming,))
        if name is not None and not isinstance(name, str):
            raise TypeError("name must be a string or None; got %r" % (name,))
        self.input_layer = incoming
        self.input_shape = incoming.output_shape
        self.name = name
        self.dtype = incoming.dtype
        self.params = collections.OrderedDict()
        self._param_names = {}
        self._open_scope()

    def _open_scope(self):
        self.graph = tf.get_default_graph()
        default = _snake(type(self).__name__.replace("Layer", "")) or "layer"
        with tf.name_scope(self.name, default_name=default) as scope:
            self.scope = scope

    @property
    def input_layers(self):
        """The layers this layer reads (a list, for graph traversal)."""
        return [self.input_layer]

    @property
    def output_shape(self):
        """The static output shape (``None`` for unknown sizes)."""
        return self.get_output_shape_for(self.input_shape)

    def get_output_shape_for(self, input_shape):
        """Output shape for a given input shape (default: unchanged)."""
        return input_shape

    def get_output_for(self, input, **kwargs):
        """Builds this layer's output tensor from its input tensor."""
        raise NotImplementedError()

    def get_params(self, unwrap_shared=True, **tags):
        """Parameters of this layer, filtered by tags.

        Args:
          unwrap_shared: accepted for Lasagne compatibility (no effect).
          **tags: e.g. ``trainable=True`` keeps parameters with the tag,
            ``regularizable=False`` keeps those without it.

        Returns:
          A list of `tf.Variable`.
        """
        del unwrap_shared
        only = {t for t, v in tags.items() if v}
        exclude = {t for t, v in tags.items() if not v}
        return [p for p, ptags in self.params.items()
                if only <= ptags and not exclude & ptags]

    def param_name(self, param):
        """The Lasagne name of `param` (``W`` or ``name.W``)."""
        return self._param_names.get(id(param), param.name)

    def add_param(self, spec, shape, name=None, **tags):
        """Creates a parameter and registers it with tags.

        Args:
          spec: see `create_param`.
          shape: expected shape.
          name: Lasagne parameter name (``W``, ``b``, ``g``...).
          **tags: ``trainable`` and ``regularizable`` default to True.

        Returns:
          The `tf.Variable` (or the given tensor for an expression spec).
        """
        tags.setdefault("trainable", True)
        tags.setdefault("regularizable", True)
        with self.graph.as_default(), tf.name_scope(self.scope):
            value, is_variable = create_param(
                spec, shape, name, self.dtype, trainable=tags["trainable"])
        if is_variable:
            self.params[value] = {t for t, v in tags.items() if v}
            full = name if self.name is None else "%s.%s" % (self.name, name)
            self._param_names[id(value)] = full
        return value

    def _delete_param(self, param):
        """Drops a parameter (as ``del layer.params[p]`` in Lasagne) and takes
        a variable this layer created out of the graph collections."""
        for p in list(self.params):
            if p is param:
                del self.params[p]
                if p.name.startswith(self.scope):
                    _remove_from_collections(p)

    def _replace_param(self, param, spec):
        """Replaces `param` by a new variable sampled from `spec`, keeping its
        place in the parameter order (openai/weightnorm re-samples ``W``)."""
        items = list(self.params.items())
        index = [i for i, (p, _) in enumerate(items) if p is param][0]
        tags = items[index][1]
        name = self._param_names[id(param)].split(".")[-1]
        with self.graph.as_default(), tf.name_scope(self.scope):
            new, _ = create_param(spec, param.shape.as_list(), name,
                                  self.dtype, "trainable" in tags)
        self._delete_param(param)
        items[index] = (new, tags)
        self.params = collections.OrderedDict(items)
        self._param_names[id(new)] = self._param_names.pop(id(param))
        return new

    def __repr__(self):
        return "<%s %s output_shape=%s>" % (
            type(self).__name__, self.name or self.scope.rstrip("/"),
            self.output_shape)


class InputLayer(Layer):
    """The entry point of a network.

    Args:
      shape: tuple of ints or ``None`` (unknown, e.g. the batch size).
      input_var: optional tensor fed to the network; by default a
        `tf.placeholder` of `shape` and `dtype` is created.
      name: optional name.
      dtype: float dtype of the input and of every parameter of the layers
        built on it; defaults to the input_var's dtype, else `get_floatX()`
        (float32 unless `set_floatX` changed it).

    Raises:
      RuntimeError: when eager execution is active.
      ValueError: for a bad shape, dtype, or an input_var of another shape.
    """

    def __init__(self, shape, input_var=None, name=None, dtype=None, **kwargs):
        validation.assert_graph_mode("InputLayer")
        if kwargs:
            raise TypeError("InputLayer got unexpected keyword arguments %s"
                            % sorted(kwargs))
        try:
            shape = tuple(shape)
        except TypeError:
            raise ValueError("shape must be a tuple of ints or None; got %r"
                             % (shape,))
        if not all(s is None or (isinstance(s, (numbers.Integral, np.integer))
                                 and not isinstance(s, bool) and s > 0)
                   for s in shape):
            raise ValueError("shape must be a tuple of positive ints or None; "
                             "got %r" % (shape,))
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.input_layer = None
        self.name = name
        self.params = collections.OrderedDict()
        self._param_names = {}
        if dtype is None:
            dtype = input_var.dtype if input_var is not None else get_floatX()
        self.dtype = as_float_dtype(dtype, "dtype")
        self._open_scope()
        if input_var is None:
            with tf.name_scope(self.scope):
                input_var = tf.placeholder(
                    self.dtype, self.shape, name="input")
        else:
            input_var = tf.convert_to_tensor(input_var, dtype=self.dtype)
            if not input_var.shape.is_compatible_with(self.shape):
                raise ValueError("input_var has shape %s, incompatible with "
                                 "shape %r" % (input_var.shape, self.shape))
        self.input_var = input_var

    @property
    def input_layers(self):
        return []

    @property
    def output_shape(self):
        return self.shape
