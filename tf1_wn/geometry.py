"""Kernel geometry: layouts, norm axes and the op that applies a kernel.

One class per kind of layer.  A geometry object is built from validated
configuration and knows

* ``kernel_shape(in_channels)`` -- the layout of the plain TF kernel, which
  ``v`` (weight norm) and ``kernel`` (weight standardization) keep;
* ``kind`` and ``reduce_axes`` -- its entry in `tf1_wn.kernel_kinds` and
  the kernel axes a per-output-channel statistic sums over;
* ``out_channels(in_channels)`` and ``channel_axis`` of the output;
* ``apply(inputs, kernel)`` -- the linear op, without bias.

The weight-normalized and weight-standardized layers share these classes, so
argument checking and shape rules are written once.
"""
import numpy as np

from tf1_wn import kernel_kinds
from tf1_wn import validation
from tf1_wn import placement
from tf1_wn._tf import tf

_CHANNELS_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
_CHANNELS_FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


class Dense:
    """``inputs @ kernel`` over the last axis of inputs of any rank >= 2."""

    default_name = "dense"
    channel_axis = -1

    def __init__(self, units, name="dense"):
        self.units = validation.positive_int("units", units)
        self.default_name = name
        self.kind = "dense"
        self.reduce_axes = kernel_kinds.reduce_axes(self.kind)

    def check_inputs(self, inputs):
        validation.check_rank("inputs", inputs, (2, None),
                              "[batch, ..., features]")
        return validation.static_channels("inputs", inputs, -1)

    def kernel_shape(self, in_channels):
        return [in_channels, self.units]

    def out_channels(self, in_channels):
        del in_channels
        return self.units

    def prefers_output_scaling(self, inputs):
        """Whether scaling the output beats scaling the kernel.

        The per-channel factor costs one pass over whichever it multiplies:
        the kernel has ``in`` entries per channel, the output one per row.
        With an unknown batch a rank-2 input is taken to have fewer rows
        than features (the usual MLP).
        """
        rows = inputs.shape.as_list()[:-1]
        if None in rows:
            return inputs.shape.ndims == 2
        return int(np.prod(rows)) < inputs.shape.as_list()[-1]

    def apply(self, inputs, kernel):
        if inputs.shape.ndims == 2:
            return tf.matmul(inputs, kernel)
        return tf.tensordot(inputs, kernel, [[inputs.shape.ndims - 1], [0]])


class _Spatial:
    """Common configuration of the convolution kinds."""

    def __init__(self, n_spatial, kernel_size, strides, padding, data_format,
                 dilation_rate=1):
        self.n_spatial = n_spatial
        allowed = (_CHANNELS_LAST[n_spatial], _CHANNELS_FIRST[n_spatial])
        if data_format is None:
            data_format = _CHANNELS_LAST[n_spatial]
        self.data_format = validation.data_format(
            "data_format", data_format, allowed)
        self.channels_first = data_format == _CHANNELS_FIRST[n_spatial]
        self.channel_axis = 1 if self.channels_first else -1
        self.kernel_size = validation.int_tuple(
            "kernel_size", kernel_size, n_spatial)
        self.strides = validation.int_tuple("strides", strides, n_spatial)
        self.dilation_rate = validation.int_tuple(
            "dilation_rate", dilation_rate, n_spatial)
        self.padding = validation.padding(
            padding, n_spatial, self.channels_first)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"`strides` {strides!r} and `dilation_rate` "
                f"{dilation_rate!r}: TensorFlow supports strides > 1 only "
                "with dilation_rate 1.")

    def prefers_output_scaling(self, inputs):
        del inputs
        return False

    def check_inputs(self, inputs):
        """Checks rank, channels and the known spatial sizes of `inputs`.

        Returns:
          The number of input channels.

        Raises:
          ValueError: a wrong rank, unknown or zero channels, or a kernel
            that does not fit the input (see `_check_sizes`).
        """
        layout = "[batch, channels, *spatial]" if self.channels_first else \
            "[batch, *spatial, channels]"
        validation.check_rank("inputs", inputs, self.n_spatial + 2, layout)
        channels = validation.static_channels("inputs", inputs,
                                              self.channel_axis)
        sizes = [inputs.shape.as_list()[dim]
                 for dim in self._layout(self.channels_first)[1]]
        for index, size in enumerate(sizes):
            if size is not None:
                self._check_sizes(index, size, inputs)
        return channels

    def _pads(self, index):
        """``(before, after)`` explicit padding of spatial dim `index`."""
        if isinstance(self.padding, str):
            return 0, 0
        return self.padding[index]

    def _check_sizes(self, index, size, inputs):
        """A forward conv's (dilated) kernel must fit a VALID or explicitly
        padded input; TF would fail later, inside the kernel library."""
        if self.padding == "SAME":
            return
        before, after = self._pads(index)
        reach = (self.kernel_size[index] - 1) * self.dilation_rate[index] + 1
        if size + before + after < reach:
            padded = f" + {before} + {after}" if before or after else ""
            raise ValueError(
                f"`kernel_size` {self.kernel_size} (spanning {reach} with "
                f"dilation {self.dilation_rate}) is larger than spatial "
                f"dimension {index} of `inputs` ({size}{padded}) with "
                f"padding {self.padding!r}, got shape "
                f"{validation.shape_text(inputs.shape)} for {inputs.name}. "
                "Use padding='SAME' or a smaller kernel.")

    def apply(self, inputs, kernel):
        """Applies the kernel; channels-first on the CPU is transposed.

        TensorFlow's CPU kernels compute some channels-first forward ops but
        none of their gradients (and no channels-first depthwise conv), so
        a layer placed on the CPU (`placement.runs_on_gpu` False) runs
        channels-last between transposes; a GPU-placed one runs as given.
        """
        if self.channels_first and not placement.runs_on_gpu():
            n = self.n_spatial
            to_last = [0] + list(range(2, n + 2)) + [1]
            to_first = [0, n + 1] + list(range(1, n + 1))
            outputs = self._apply(tf.transpose(inputs, to_last), kernel,
                                  channels_first=False)
            return tf.transpose(outputs, to_first)
        return self._apply(inputs, kernel, self.channels_first)

    def _layout(self, channels_first):
        """(data_format string, spatial dims) of one layout."""
        if channels_first:
            return (_CHANNELS_FIRST[self.n_spatial],
                    list(range(2, 2 + self.n_spatial)))
        return (_CHANNELS_LAST[self.n_spatial],
                list(range(1, 1 + self.n_spatial)))

    def _per_dimension(self, values, channels_first, fill):
        """Spreads per-spatial-dimension values over all input dimensions."""
        full = [fill] * (self.n_spatial + 2)
        for dim, value in zip(self._layout(channels_first)[1], values):
            full[dim] = value
        return full

    def _pad_explicitly(self, inputs, channels_first):
        """Applies explicit padding pairs with tf.pad; returns (x, padding)."""
        if isinstance(self.padding, str):
            return inputs, self.padding
        if any(a or b for a, b in self.padding):
            inputs = tf.pad(inputs, self._per_dimension(
                [list(p) for p in self.padding], channels_first, [0, 0]))
        return inputs, "VALID"


class Conv(_Spatial):
    """N-D convolution (cross-correlation), kernel ``[*k, in, out]``."""

    def __init__(self, n_spatial, filters, kernel_size, strides=1,
                 padding="SAME", dilation_rate=1, data_format=None,
                 name=None):
        super().__init__(n_spatial, kernel_size, strides, padding,
                         data_format, dilation_rate)
        self.filters = validation.positive_int("filters", filters)
        self.default_name = name or f"conv{n_spatial}d"
        self.kind = f"conv{n_spatial}d"
        self.reduce_axes = kernel_kinds.reduce_axes(self.kind)

    def kernel_shape(self, in_channels):
        return list(self.kernel_size) + [in_channels, self.filters]

    def out_channels(self, in_channels):
        del in_channels
        return self.filters

    def _apply(self, inputs, kernel, channels_first):
        inputs, padding = self._pad_explicitly(inputs, channels_first)
        dilated = max(self.dilation_rate) > 1
        if (self.n_spatial == 2 and not dilated) or (
                dilated and placement.runs_on_gpu()):
            # The op itself, with its own dilations on a GPU.  On the CPU
            # TensorFlow has no dilated conv gradients, and only
            # tf.nn.convolution's space-to-batch computes them (its
            # wrapper is also slow to build, so undilated 2-D convs skip it).
            data_format = self._layout(channels_first)[0]
            if self.n_spatial == 1:
                return tf.nn.conv1d(
                    inputs, kernel, self.strides[0], padding,
                    data_format=data_format, dilations=self.dilation_rate[0])
            op = tf.nn.conv2d if self.n_spatial == 2 else tf.nn.conv3d
            return op(inputs, kernel, self._per_dimension(
                self.strides, channels_first, 1), padding,
                data_format=data_format, dilations=self._per_dimension(
                    self.dilation_rate, channels_first, 1))
        return tf.nn.convolution(
            inputs, kernel, padding=padding, strides=self.strides,
            dilation_rate=self.dilation_rate,
            data_format=self._layout(channels_first)[0])


class ConvTranspose(_Spatial):
    """2-D transposed convolution, kernel ``[kh, kw, out, in]``.

    Output size follows Keras's Conv2DTranspose (and tf-slim's): ``H * s``
    for SAME, ``H * s + max(k - s, 0)`` for VALID (``(H - 1) * s + k`` when
    ``k >= s``; a kernel smaller than the stride leaves zero rows so that
    the output still tiles ``H * s``), ``(H - 1) * s + k - before - after``
    for explicit padding.  With Keras's `output_padding` ``p`` (each entry
    below its stride) the size is ``(H - 1) * s + k - 2 * (k // 2) + p``
    for SAME, ``(H - 1) * s + k + p`` for VALID and
    ``(H - 1) * s + k - before - after + p`` for explicit padding: every
    size `tf.nn.conv2d_transpose` accepts for the input (pixel-cnn's VALID
    ``deconv2d`` asks for ``H * s + k - 1``: ``p = s - 1``).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 data_format="NHWC", name="conv2d_transpose",
                 output_padding=None):
        super().__init__(2, kernel_size, strides, padding, data_format)
        self.filters = validation.positive_int("filters", filters)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = validation.int_tuple(
                "output_padding", output_padding, 2, allow_zero=True)
            for p, s in zip(self.output_padding, self.strides):
                if p >= s:
                    raise ValueError(
                        f"`output_padding` {output_padding!r} must be "
                        f"smaller than `strides` {self.strides!r} in every "
                        "dimension (as Keras requires).")
        self.default_name = name
        self.kind = "conv2d_transpose"
        self.reduce_axes = kernel_kinds.reduce_axes(self.kind)

    def kernel_shape(self, in_channels):
        return list(self.kernel_size) + [self.filters, in_channels]

    def out_channels(self, in_channels):
        del in_channels
        return self.filters

    def _check_sizes(self, index, size, inputs):
        """Explicit padding must leave a non-empty output; an
        `output_padding` size must be one a SAME forward conv maps back to
        the input size."""
        if self.output_padding is not None and self.padding == "SAME":
            out, stride = self._output_size(size, index), self.strides[index]
            if -(-out // stride) != size:
                raise ValueError(
                    f"`output_padding` {self.output_padding!r} with SAME "
                    f"padding and kernel {self.kernel_size!r} gives size "
                    f"{out} for spatial dimension {index}, which a SAME "
                    f"convolution with stride {stride} maps to "
                    f"{-(-out // stride)}, not the input's {size} "
                    f"({inputs.name}); an even kernel needs output_padding "
                    ">= 1 there.")
        if isinstance(self.padding, str):
            return
        if self._output_size(size, index) < 1:
            before, after = self.padding[index]
            raise ValueError(
                f"`padding` {self.padding!r} removes the whole output of "
                f"spatial dimension {index}: (size - 1) * stride + kernel = "
                f"{(size - 1) * self.strides[index] + self.kernel_size[index]}"
                f" for `inputs` of shape "
                f"{validation.shape_text(inputs.shape)} ({inputs.name}), "
                f"minus {before} + {after}.")

    def _output_size(self, size, index):
        stride, k = self.strides[index], self.kernel_size[index]
        if self.output_padding is not None:
            extra = self.output_padding[index]
            if self.padding == "SAME":
                return (size - 1) * stride + k - 2 * (k // 2) + extra
            before, after = self._pads(index)
            return (size - 1) * stride + k - before - after + extra
        if self.padding == "SAME":
            return size * stride
        if self.padding == "VALID":
            return size * stride + max(k - stride, 0)
        before, after = self.padding[index]
        return (size - 1) * stride + k - before - after

    def _apply(self, inputs, kernel, channels_first):
        data_format, dims = self._layout(channels_first)
        static = inputs.shape.as_list()
        dynamic = tf.shape(inputs)
        out_shape = [static[0] if static[0] is not None else dynamic[0]]
        out_shape += [None] * 3
        out_shape[1 if channels_first else -1] = self.filters
        for index, dim in enumerate(dims):
            size = static[dim] if static[dim] is not None else dynamic[dim]
            out_shape[dim] = self._output_size(size, index)
        if all(isinstance(s, int) for s in out_shape):
            output_shape = out_shape
        else:
            output_shape = tf.stack(out_shape)
        padding = self.padding
        if not isinstance(padding, str):
            padding = self._per_dimension([list(p) for p in padding],
                                          channels_first, [0, 0])
        outputs = tf.nn.conv2d_transpose(
            inputs, kernel, output_shape,
            self._per_dimension(self.strides, channels_first, 1),
            padding=padding, data_format=data_format)
        if not isinstance(output_shape, list):
            outputs.set_shape(
                [s if isinstance(s, int) else None for s in out_shape])
        return outputs


class DepthwiseConv(_Spatial):
    """Depthwise 2-D convolution, kernel ``[kh, kw, in, multiplier]``.

    Output channel ``i * multiplier + m`` comes from input channel ``i``;
    g and bias have ``in * multiplier`` entries in that order.
    """

    def __init__(self, kernel_size, depth_multiplier=1, strides=1,
                 padding="SAME", dilation_rate=1, data_format="NHWC",
                 name="depthwise_conv2d"):
        super().__init__(2, kernel_size, strides, padding, data_format,
                         dilation_rate)
        self.depth_multiplier = validation.positive_int(
            "depth_multiplier", depth_multiplier)
        if self.strides[0] != self.strides[1]:
            raise ValueError(
                f"`strides` must be equal along height and width for "
                "depthwise_conv2d (a TensorFlow restriction), got "
                f"{strides!r}.")
        self.default_name = name
        self.kind = "depthwise_conv2d"
        self.reduce_axes = kernel_kinds.reduce_axes(self.kind)

    def kernel_shape(self, in_channels):
        return list(self.kernel_size) + [in_channels, self.depth_multiplier]

    def out_channels(self, in_channels):
        return in_channels * self.depth_multiplier

    def _apply(self, inputs, kernel, channels_first):
        inputs, padding = self._pad_explicitly(inputs, channels_first)
        return tf.nn.depthwise_conv2d(
            inputs, kernel,
            strides=self._per_dimension(self.strides, channels_first, 1),
            padding=padding, dilations=self.dilation_rate,
            data_format=self._layout(channels_first)[0])
