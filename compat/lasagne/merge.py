"""Layers with several incoming layers: `MergeLayer` (the base),
`ConcatLayer` and `ElemwiseSumLayer`, as in ``lasagne.layers.merge``."""
import collections
import numbers

from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne.base import Layer


class MergeLayer(Layer):
    """Base class of layers that read several layers.

    Args:
      incomings: non-empty list of `Layer`s, all of one dtype.
      name: optional name.

    Raises:
      RuntimeError: when eager execution is active.
      TypeError: `incomings` not a list of Layers, or mixed dtypes.
      ValueError: empty `incomings`.
    """

    # Layer.__init__ takes one incoming layer; this one takes a list.
    def __init__(self, incomings, name=None):  # pylint: disable=W0231
        validation.assert_graph_mode(type(self).__name__)
        if not isinstance(incomings, (list, tuple)) or not all(
                isinstance(layer, Layer) for layer in incomings):
            raise TypeError("incomings must be a list of lasagne Layers; got "
                            "%r" % (incomings,))
        if not incomings:
            raise ValueError("incomings must contain at least one layer; "
                             "got []")
        if name is not None and not isinstance(name, str):
            raise TypeError("name must be a string or None; got %r" % (name,))
        dtypes = {tf.as_dtype(layer.dtype) for layer in incomings}
        if len(dtypes) > 1:
            raise TypeError("incomings must share one dtype; got %s"
                            % sorted(d.name for d in dtypes))
        self._incomings = list(incomings)
        self.input_layer = None
        self.input_shapes = [layer.output_shape for layer in incomings]
        self.name = name
        self.dtype = incomings[0].dtype
        self.params = collections.OrderedDict()
        self._param_names = {}
        self._open_scope()

    @property
    def input_layers(self):
        return list(self._incomings)

    @property
    def output_shape(self):
        return self.get_output_shape_for(self.input_shapes)

    def get_output_shape_for(self, input_shapes):
        raise NotImplementedError()

    def get_output_for(self, inputs, **kwargs):
        """Builds this layer's output from the list of its input tensors."""
        raise NotImplementedError()


def _merge_size(sizes, axis, shapes):
    known = {size for size in sizes if size is not None}
    if len(known) > 1:
        raise ValueError("incomings must agree on axis %d; got shapes %r"
                         % (axis, shapes))
    return known.pop() if known else None


class ConcatLayer(MergeLayer):
    """Concatenates the inputs along `axis` (default 1, the channels).

    Args:
      incomings: list of layers of equal rank whose shapes agree except on
        `axis`.
      axis: the axis to join (negative counts from the end).
      cropping: only None (Lasagne's cropping of mismatched shapes is not
        mirrored).
      name: optional name.

    Raises:
      ValueError: different ranks, shapes that disagree off `axis`, an axis
        out of range, or a `cropping`.
    """

    def __init__(self, incomings, axis=1, cropping=None, **kwargs):
        super(ConcatLayer, self).__init__(incomings, **kwargs)
        if cropping is not None:
            raise ValueError("ConcatLayer: cropping=%r is not supported; crop "
                             "the inputs (e.g. with a slice) and pass "
                             "cropping=None" % (cropping,))
        ranks = {len(shape) for shape in self.input_shapes}
        if len(ranks) > 1:
            raise ValueError("ConcatLayer: incomings must have one rank; got "
                             "shapes %r" % (self.input_shapes,))
        rank = ranks.pop()
        if (isinstance(axis, bool) or not isinstance(axis, numbers.Integral)
                or not -rank <= axis < rank):
            raise ValueError("ConcatLayer: axis must be an int in [%d, %d) "
                             "for "
                             "rank-%d inputs; got %r" % (-rank, rank, rank,
                                                         axis))
        self.axis = int(axis) % rank
        self.get_output_shape_for(self.input_shapes)  # validates the shapes

    def get_output_shape_for(self, input_shapes):
        output = []
        for axis, sizes in enumerate(zip(*input_shapes)):
            if axis == self.axis:
                output.append(None if None in sizes else sum(sizes))
            else:
                output.append(_merge_size(sizes, axis, input_shapes))
        return tuple(output)

    def get_output_for(self, inputs, **kwargs):
        return tf.concat(list(inputs), axis=self.axis)


class ElemwiseSumLayer(MergeLayer):
    """``sum(coeff_i * input_i)`` over inputs of one shape.

    Args:
      incomings: list of layers with compatible shapes.
      coeffs: a number for every input, or a list with one number per input.
      name: optional name.

    Raises:
      ValueError: incompatible shapes, or a coeffs list of the wrong length.
      TypeError: a coefficient that is not a number.
    """

    def __init__(self, incomings, coeffs=1, **kwargs):
        super(ElemwiseSumLayer, self).__init__(incomings, **kwargs)
        n = len(self.input_layers)
        if isinstance(coeffs, (list, tuple)):
            if len(coeffs) != n:
                raise ValueError("ElemwiseSumLayer: coeffs must have one "
                                 "entry "
                                 "per incoming layer (%d); got %r"
                                 % (n, coeffs))
            coeffs = list(coeffs)
        else:
            coeffs = [coeffs] * n
        for coeff in coeffs:
            if isinstance(coeff, bool) or not isinstance(coeff, numbers.Real):
                raise TypeError("ElemwiseSumLayer: coeffs must be numbers; "
                                "got %r" % (coeff,))
        self.coeffs = coeffs
        self.get_output_shape_for(self.input_shapes)  # validates the shapes

    def get_output_shape_for(self, input_shapes):
        if len({len(shape) for shape in input_shapes}) > 1:
            raise ValueError("ElemwiseSumLayer: incomings must have one rank; "
                             "got shapes %r" % (input_shapes,))
        return tuple(_merge_size(sizes, axis, input_shapes)
                     for axis, sizes in enumerate(zip(*input_shapes)))

    def get_output_for(self, inputs, **kwargs):
        total = None
        for coeff, tensor in zip(self.coeffs, inputs):
            term = tensor if coeff == 1 else tensor * tf.cast(coeff,
                                                              tensor.dtype)
            total = term if total is None else total + term
        return total
