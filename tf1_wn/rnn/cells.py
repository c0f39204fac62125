"""Weight-normalized RNN, GRU and LSTM cells for TF1 graph code.

The cells follow the TF1 RNNCell protocol (`state_size`, `output_size`,
`zero_state`, ``__call__(inputs, state, scope=None)``) without depending on
Keras, so they run with `tf.compat.v1.nn.dynamic_rnn`,
`bidirectional_dynamic_rnn`, `static_rnn` and `raw_rnn` under Keras 3.  Gate
order and kernel layouts are TF1's (`BasicRNNCell`, `GRUCell`,
`BasicLSTMCell`): TF1's ``kernel`` is ``concat([input/v, recurrent/v], 0)``.
"""
import collections

from tf1_wn import normalization
from tf1_wn import validation
from tf1_wn.rnn.base import ProjectionSpec, WeightNormCellBase
from tf1_wn._tf import tf
from tf1_wn.docstrings import fill


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """The LSTM state ``(c, h)``, structurally TF1's `LSTMStateTuple`.

    `tf.nest` treats namedtuples with the same name and fields as the same
    structure, so it mixes with TF1's own class in ``nest`` checks.
    """
    __slots__ = ()

    @property
    def dtype(self):
        if self.c.dtype != self.h.dtype:
            raise TypeError(
                f"Inconsistent LSTM state dtypes: c is {self.c.dtype}, h is "
                f"{self.h.dtype}.")
        return self.c.dtype


def _tf1_lstm_state_tuple():
    """TF1's own class where TensorFlow provides it (legacy Keras, with
    tf-keras and TF_USE_LEGACY_KERAS=1), else None.  Its wrappers test
    ``isinstance(state, LSTMStateTuple)``: `DropoutWrapper`'s default
    state filter keeps the memory ``c`` only for that class."""
    try:
        return tf.nn.rnn_cell.LSTMStateTuple
    except (AttributeError, ImportError):  # Keras 3: "not available"
        return None


#: The LSTM state class: TF1's where it exists, else the namedtuple above
#: (same name and fields).
_OWN_LSTM_STATE_TUPLE = LSTMStateTuple
LSTMStateTuple = _tf1_lstm_state_tuple() or _OWN_LSTM_STATE_TUPLE


@fill
class WeightNormRNNCell(WeightNormCellBase):
    """Weight-normalized basic RNN cell: ``h' = act(x Wx + h Wh + bias)``.

    Variables (under the cell scope): ``input/v [d, n]``, ``input/g [n]``,
    ``recurrent/v [n, n]``, ``recurrent/g [n]``, ``bias [n]``.

    Args:
      num_units: number of units n.
      {cell_args}

    {cell_raises}
    """

    _default_name = "wn_rnn_cell"

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units

    def _projection_specs(self):
        return [ProjectionSpec("", self._num_units, 0.0)]

    def _step(self, inputs, state, projections):
        output = self._activation(self._linear(projections[""], inputs, state))
        return output, output


@fill
class WeightNormGRUCell(WeightNormCellBase):
    """Weight-normalized GRU cell (TF1 `GRUCell` equations and layout).

    ``[r, u] = sigmoid(split(x Wx_g + h Wh_g + bias_g, 2))``,
    ``c = act(x Wx_c + (r h) Wh_c + bias_c)``, ``h' = u h + (1 - u) c``.

    Variables: ``gates/{input,recurrent}/{v,g}`` (``[d|n, 2n]``, ``[2n]``),
    ``gates/bias [2n]`` (init 1.0), ``candidate/{input,recurrent}/{v,g}``
    (``[d|n, n]``, ``[n]``), ``candidate/bias [n]``.

    Args:
      num_units: number of units n.
      {cell_args}

    {cell_raises}
    """

    _default_name = "wn_gru_cell"

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units

    def _projection_specs(self):
        n = self._num_units
        return [ProjectionSpec("gates", 2 * n, 1.0),
                ProjectionSpec("candidate", n, 0.0)]

    def _step(self, inputs, state, projections):
        gates = tf.sigmoid(self._linear(projections["gates"], inputs, state))
        r, u = tf.split(gates, 2, axis=1)
        candidate = self._activation(
            self._linear(projections["candidate"], inputs, r * state))
        new_h = u * state + (1 - u) * candidate
        return new_h, new_h


@fill
class WeightNormLSTMCell(WeightNormCellBase):
    """Weight-normalized LSTM cell (TF1 `BasicLSTMCell` equations, layout).

    ``[i, j, f, o] = split(x Wx + h Wh + bias, 4)``,
    ``c' = sigmoid(f + forget_bias) c + sigmoid(i) act(j)``,
    ``h' = act(c') sigmoid(o)``.

    Variables: ``input/v [d, 4n]``, ``input/g [4n]``, ``recurrent/v [n, 4n]``,
    ``recurrent/g [4n]``, ``bias [4n]``.

    The state is an `LSTMStateTuple` ``(c, h)`` when `state_is_tuple`, else
    ``concat([c, h], 1)``.

    Args:
      num_units: number of units n.
      forget_bias: number added to the forget gate (not a
        variable: data init leaves it in place).
      state_is_tuple: state as an `LSTMStateTuple` (else the
        concatenation).
      {cell_args}

    {cell_raises}
    """

    _default_name = "wn_lstm_cell"

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True,
                 activation=None, kernel_initializer=None,
                 recurrent_initializer=None, bias_initializer=None,
                 trainable_g=True, eps=normalization.DEFAULT_EPS, name=None,
                 dtype=None, ema=None, variable_dtype=None):
        super().__init__(
            num_units, activation=activation,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, trainable_g=trainable_g,
            eps=eps, name=name, dtype=dtype, ema=ema,
            variable_dtype=variable_dtype)
        self._forget_bias = validation.finite_number("forget_bias",
                                                     forget_bias)
        self._state_is_tuple = bool(state_is_tuple)

    @property
    def state_size(self):
        n = self._num_units
        return LSTMStateTuple(n, n) if self._state_is_tuple else 2 * n

    @property
    def output_size(self):
        return self._num_units

    def _projection_specs(self):
        return [ProjectionSpec("", 4 * self._num_units, 0.0)]

    def _step(self, inputs, state, projections):
        if self._state_is_tuple:
            c, h = state
        else:
            c, h = tf.split(state, 2, axis=1)
        i, j, f, o = tf.split(
            self._linear(projections[""], inputs, h), 4, axis=1)
        # tf.constant, not tf.cast: casting 0.7 would round it to float32.
        forget = f + tf.constant(self._forget_bias, f.dtype) \
            if self._forget_bias else f
        new_c = tf.sigmoid(forget) * c + tf.sigmoid(i) * self._activation(j)
        new_h = self._activation(new_c) * tf.sigmoid(o)
        if self._state_is_tuple:
            return new_h, LSTMStateTuple(new_c, new_h)
        return new_h, tf.concat([new_c, new_h], axis=1)
