"""Weight-normalized recurrent cells for TF1 graph code.

* `tf1_wn.rnn.base`: the RNNCell protocol, the variables (one input and one
  recurrent weight-normalized kernel per projection) and ``data_init``;
* `tf1_wn.rnn.cells`: `WeightNormRNNCell`, `WeightNormGRUCell`,
  `WeightNormLSTMCell` and `LSTMStateTuple`;
* `tf1_wn.rnn.multi`: `MultiRNNCell`, TF1's stacking without Keras;
* `tf1_wn.rnn.drivers`: `dynamic_rnn` and `bidirectional_dynamic_rnn` with
  an init mode (the init pass of a whole recurrent model).
"""
from tf1_wn.rnn.cells import (LSTMStateTuple, WeightNormGRUCell,
                              WeightNormLSTMCell, WeightNormRNNCell)
from tf1_wn.rnn.drivers import bidirectional_dynamic_rnn, dynamic_rnn
from tf1_wn.rnn.multi import MultiRNNCell

__all__ = ["WeightNormRNNCell", "WeightNormGRUCell", "WeightNormLSTMCell",
           "MultiRNNCell", "LSTMStateTuple", "dynamic_rnn",
           "bidirectional_dynamic_rnn"]
