"""Porting an improved-gan style Lasagne discriminator to TF1 graphs.

Runs in a few seconds on a CPU:

    python examples/lasagne_port.py

The model code is the Lasagne code with two changed imports; the rest of the
script shows the TF1 side: data-dependent init, one training step, and moving
parameter values in and out (e.g. values saved by Lasagne's
``get_all_param_values`` in a pickle or npz).
"""
import os
import tempfile

import numpy as np
from tf1_wn import quiet

quiet.import_tensorflow()  # without its C++ start-up lines
import tensorflow.compat.v1 as tf  # noqa: E402

# Was: import lasagne; import lasagne.layers as ll; import nn
from tf1_wn.compat import lasagne
from tf1_wn.compat.lasagne import nn

ll = lasagne.layers
tf.disable_eager_execution()
lasagne.random.set_rng(np.random.RandomState(1))  # Lasagne's initial values

# --- the model: improved-gan's CIFAR-10 discriminator, shrunk -------------
disc_layers = [ll.InputLayer(shape=(None, 3, 16, 16))]  # NCHW, float32
disc_layers.append(ll.DropoutLayer(disc_layers[-1], p=0.2))
disc_layers.append(nn.weight_norm(ll.Conv2DLayer(
    disc_layers[-1], 16, (3, 3), pad=1, W=lasagne.init.Normal(0.05),
    nonlinearity=nn.lrelu)))
# stride 2 with symmetric padding 1, as Theano did (not TF's SAME)
disc_layers.append(nn.weight_norm(ll.Conv2DLayer(
    disc_layers[-1], 16, (3, 3), pad=1, stride=2,
    W=lasagne.init.Normal(0.05), nonlinearity=nn.lrelu)))
disc_layers.append(nn.weight_norm(ll.NINLayer(
    disc_layers[-1], num_units=16, W=lasagne.init.Normal(0.05),
    nonlinearity=nn.lrelu)))
disc_layers.append(ll.GlobalPoolLayer(disc_layers[-1]))
disc_layers.append(nn.weight_norm(ll.DenseLayer(
    disc_layers[-1], num_units=10, W=lasagne.init.Normal(0.05),
    nonlinearity=None), train_g=True, init_stdv=0.1))
top = disc_layers[-1]
x = disc_layers[0].input_var          # a tf.placeholder
labels = tf.placeholder(tf.int32, [None])

# --- data-dependent init: one init pass builds every layer's updates -------
# (dropout stays active in the init pass, as in improved-gan, so the test-mode
# std below is close to, not exactly, init_stdv)
init_out = ll.get_output(top, init=True)
init_op = lasagne.apply_updates(ll.get_init_updates(top))

# --- training: Lasagne's updates, applied as one TF op ---------------------
logits = ll.get_output(top)                       # dropout active
loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=labels, logits=logits))
params = ll.get_all_params(top, trainable=True)   # g of the convs excluded
train_op = lasagne.apply_updates(nn.adam_updates(params, loss, lr=0.0003))
test_logits = ll.get_output(top, deterministic=True)

rng = np.random.RandomState(0)
images = rng.normal(size=(64, 3, 16, 16)).astype(np.float32)
targets = rng.randint(0, 10, size=64)

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    sess.run(init_op, {x: images[:32]})           # like init_param(x[:500])
    z = sess.run(test_logits, {x: images[:32]})
    print("after init: logit std per class ~ init_stdv=0.1:",
          np.round(z.std(axis=0)[:4], 3))
    for step in range(3):
        _, value = sess.run([train_op, loss], {x: images, labels: targets})
        print("step %d loss %.4f" % (step, value))

    # Values out and back in: the same list Lasagne's get_all_param_values
    # returns (W, b, g per weight-normed block, in get_all_params order).
    values = ll.get_all_param_values(top)
    print("parameters:", ll.get_all_param_names(top))
    np.savez(os.path.join(tempfile.gettempdir(), "lasagne_port.npz"), *values)
    reference = sess.run(test_logits, {x: images[:4]})

with tf.Graph().as_default():   # a fresh copy of the model would do the same
    l_in = ll.InputLayer((None, 3, 16, 16))
    layer = nn.weight_norm(ll.Conv2DLayer(l_in, 16, 3, pad=1,
                                          nonlinearity=nn.lrelu))
    with tf.Session():
        tf.global_variables_initializer().run()
        ll.set_all_param_values(layer, values[:3])
        print("round trip ok:", all(
            np.array_equal(a, b) for a, b in
            zip(ll.get_all_param_values(layer), values[:3])))
print("test logits of 4 images:", reference.shape)
