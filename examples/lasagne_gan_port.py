"""A Theano + Lasagne semi-supervised GAN script, ported to TF1 graphs.

A small training script written in the style of improved-gan's
``train_mnist_feature_matching.py`` (settings, fixed seeds, generator and
discriminator built with Lasagne and ``nn``, the same costs, an init pass,
Adam with a Polyak average, a test function on the averages), on a tiny
synthetic data set so that it trains in seconds on a CPU:

    python examples/lasagne_gan_port.py --epochs 6

docs/porting-lasagne.md ("A worked port") shows the Theano original of each
section next to this file. The model and cost lines are the Theano script's
lines with ``T.*`` replaced by ``tf.*``; what changes is in the comments
marked "was:".
"""
import argparse
import time

import numpy as np
from tf1_wn import quiet

quiet.import_tensorflow()  # without its C++ start-up lines
import tensorflow.compat.v1 as tf  # noqa: E402

# was: import lasagne; import lasagne.layers as LL; import nn
from tf1_wn.compat import lasagne
from tf1_wn.compat.lasagne import layers as LL
from tf1_wn.compat.lasagne import nn

tf.disable_eager_execution()

# settings
parser = argparse.ArgumentParser()
parser.add_argument('--seed', type=int, default=1)
parser.add_argument('--seed_data', type=int, default=1)
parser.add_argument('--unlabeled_weight', type=float, default=1.)
parser.add_argument('--batch_size', type=int, default=50)
parser.add_argument('--count', type=int, default=4)  # labels per class
parser.add_argument('--learning_rate', type=float, default=0.003)
parser.add_argument('--epochs', type=int, default=6)
# improved-gan averages with 0.0001 over ~180k steps; this run is ~100 steps.
parser.add_argument('--avg_rate', type=float, default=0.05)
args = parser.parse_args()
print(args)

# fixed random seeds
rng = np.random.RandomState(args.seed)
# was: theano_rng = MRG_RandomStreams(rng.randint(2 ** 15))
tf.set_random_seed(rng.randint(2 ** 15))
lasagne.random.set_rng(np.random.RandomState(rng.randint(2 ** 15)))
data_rng = np.random.RandomState(args.seed_data)


def load_data(rng, prototypes, n_per_class):
    """Noisy copies of each class's 8x8 pattern, pixel values in [0, 1] as
    the MNIST script's."""
    labels = np.repeat(np.arange(len(prototypes)), n_per_class)
    images = prototypes[labels] + rng.normal(
        0, 0.35, size=(labels.size, prototypes.shape[1]))
    order = rng.permutation(labels.size)
    images = np.clip(images[order], 0, 1).astype(np.float32)
    return images, labels[order].astype(np.int32)


prototypes = 0.3 + 0.3 * (data_rng.uniform(size=(3, 64)) > 0.7)  # "digits"
trainx, trainy = load_data(data_rng, prototypes, n_per_class=300)
testx, testy = load_data(data_rng, prototypes, n_per_class=100)
trainx_unl = trainx.copy()
trainx_unl2 = trainx.copy()
nr_batches_train = int(trainx.shape[0] / args.batch_size)
nr_batches_test = int(testx.shape[0] / args.batch_size)

# specify generative model
# was: noise = theano_rng.uniform(size=(args.batch_size, 16))
noise = tf.random_uniform((args.batch_size, 16))
gen_layers = [LL.InputLayer(shape=(args.batch_size, 16), input_var=noise)]
gen_layers.append(nn.batch_norm(LL.DenseLayer(
    gen_layers[-1], num_units=64, nonlinearity=tf.nn.softplus), g=None))
gen_layers.append(nn.batch_norm(LL.DenseLayer(
    gen_layers[-1], num_units=64, nonlinearity=tf.nn.softplus), g=None))
gen_layers.append(nn.l2normalize(LL.DenseLayer(
    gen_layers[-1], num_units=64, nonlinearity=tf.sigmoid)))
gen_dat = LL.get_output(gen_layers[-1], deterministic=False)

# specify supervised model
layers = [LL.InputLayer(shape=(None, 64))]
layers.append(nn.GaussianNoiseLayer(layers[-1], sigma=0.3))
layers.append(nn.DenseLayer(layers[-1], num_units=64))
layers.append(nn.GaussianNoiseLayer(layers[-1], sigma=0.5))
layers.append(nn.DenseLayer(layers[-1], num_units=32))
layers.append(nn.GaussianNoiseLayer(layers[-1], sigma=0.5))
layers.append(nn.DenseLayer(layers[-1], num_units=3, nonlinearity=None,
                            train_scale=True))

# costs
# was: labels = T.ivector(); x_lab = T.matrix(); x_unl = T.matrix()
labels = tf.placeholder(tf.int32, [None])
x_lab = tf.placeholder(tf.float32, [None, 64])
x_unl = tf.placeholder(tf.float32, [None, 64])

temp = LL.get_output(gen_layers[-1], init=True)
temp = LL.get_output(layers[-1], x_lab, deterministic=False, init=True)
init_updates = [u for layer in gen_layers + layers
                for u in getattr(layer, 'init_updates', [])]

output_before_softmax_lab = LL.get_output(layers[-1], x_lab,
                                          deterministic=False)
output_before_softmax_unl = LL.get_output(layers[-1], x_unl,
                                          deterministic=False)
output_before_softmax_fake = LL.get_output(layers[-1], gen_dat,
                                           deterministic=False)

z_exp_lab = tf.reduce_mean(nn.log_sum_exp(output_before_softmax_lab))
z_exp_unl = tf.reduce_mean(nn.log_sum_exp(output_before_softmax_unl))
z_exp_fake = tf.reduce_mean(nn.log_sum_exp(output_before_softmax_fake))
# was: output_before_softmax_lab[T.arange(args.batch_size), labels]
l_lab = tf.gather(output_before_softmax_lab, labels, axis=1, batch_dims=1)
l_unl = nn.log_sum_exp(output_before_softmax_unl)
loss_lab = -tf.reduce_mean(l_lab) + tf.reduce_mean(z_exp_lab)
loss_unl = (-0.5 * tf.reduce_mean(l_unl)
            + 0.5 * tf.reduce_mean(tf.nn.softplus(
                nn.log_sum_exp(output_before_softmax_unl)))
            + 0.5 * tf.reduce_mean(tf.nn.softplus(
                nn.log_sum_exp(output_before_softmax_fake))))

# was: T.mean(T.neq(T.argmax(output_before_softmax_lab, axis=1), labels))
train_err = tf.reduce_mean(tf.cast(tf.not_equal(
    tf.argmax(output_before_softmax_lab, 1, output_type=tf.int32), labels),
    tf.float32))

mom_gen = tf.reduce_mean(LL.get_output(layers[-3], gen_dat), axis=0)
mom_real = tf.reduce_mean(LL.get_output(layers[-3], x_unl), axis=0)
loss_gen = tf.reduce_mean(tf.square(mom_gen - mom_real))

# test error
output_before_softmax = LL.get_output(layers[-1], x_lab, deterministic=True)
test_err = tf.reduce_mean(tf.cast(tf.not_equal(
    tf.argmax(output_before_softmax, 1, output_type=tf.int32), labels),
    tf.float32))

# Theano functions for training and testing
# was: lr = T.scalar()
lr = tf.placeholder(tf.float32, [])
disc_params = LL.get_all_params(layers, trainable=True)
disc_param_updates = nn.adam_updates(
    disc_params, loss_lab + args.unlabeled_weight * loss_unl, lr=lr,
    mom1=0.5)
# was: th.shared(np.cast[th.config.floatX](0. * p.get_value()))
disc_param_avg = [tf.Variable(tf.zeros_like(p), trainable=False)
                  for p in disc_params]
disc_avg_updates = [(a, a + args.avg_rate * (p - a))
                    for p, a in zip(disc_params, disc_param_avg)]
# was: disc_avg_givens = [(p, a) for p, a in zip(disc_params, ...)]
disc_avg_givens = lasagne.Givens(zip(disc_params, disc_param_avg))
gen_params = LL.get_all_params(gen_layers[-1], trainable=True)
gen_param_updates = nn.adam_updates(gen_params, loss_gen, lr=lr, mom1=0.5)

# was: th.function(inputs=..., outputs=..., updates=...): the updates become
# one op each, run together with the outputs in one sess.run.
init_param = lasagne.apply_updates(init_updates)
train_batch_disc = lasagne.apply_updates(disc_param_updates
                                         + disc_avg_updates)
train_batch_gen = lasagne.apply_updates(gen_param_updates)

# select labeled data
inds = data_rng.permutation(trainx.shape[0])
trainx, trainy = trainx[inds], trainy[inds]
txs, tys = [], []
for j in range(3):
    txs.append(trainx[trainy == j][:args.count])
    tys.append(trainy[trainy == j][:args.count])
txs, tys = np.concatenate(txs, axis=0), np.concatenate(tys, axis=0)

sess = tf.Session()
sess.run(tf.global_variables_initializer())

# //////////// perform training //////////////
test_errors = []
for epoch in range(args.epochs):
    begin = time.time()
    lr_value = np.float32(args.learning_rate
                          * np.minimum(3. - epoch / 400., 1.))

    # construct randomly permuted minibatches
    trainx, trainy = [], []
    for t in range(int(np.ceil(trainx_unl.shape[0] / float(txs.shape[0])))):
        inds = rng.permutation(txs.shape[0])
        trainx.append(txs[inds])
        trainy.append(tys[inds])
    trainx, trainy = np.concatenate(trainx), np.concatenate(trainy)
    trainx_unl = trainx_unl[rng.permutation(trainx_unl.shape[0])]
    trainx_unl2 = trainx_unl2[rng.permutation(trainx_unl2.shape[0])]

    if epoch == 0:
        # was: init_param(trainx[:500])
        sess.run(init_param, {x_lab: trainx[:500]})

    # train
    loss_lab_sum = loss_unl_sum = train_err_sum = 0.
    for t in range(nr_batches_train):
        ran = slice(t * args.batch_size, (t + 1) * args.batch_size)
        # was: ll, lu, te = train_batch_disc(trainx[ran], trainy[ran],
        #                                    trainx_unl[ran], lr)
        ll_, lu, te, _ = sess.run(
            [loss_lab, loss_unl, train_err, train_batch_disc],
            {x_lab: trainx[ran], labels: trainy[ran],
             x_unl: trainx_unl[ran], lr: lr_value})
        loss_lab_sum += ll_
        loss_unl_sum += lu
        train_err_sum += te
        # was: e = train_batch_gen(trainx_unl2[ran], lr)
        sess.run(train_batch_gen, {x_unl: trainx_unl2[ran], lr: lr_value})

    # test, on the Polyak averages
    # was: test_batch = th.function(..., givens=disc_avg_givens)
    test_err_sum = 0.
    with disc_avg_givens.applied(sess):
        for t in range(nr_batches_test):
            ran = slice(t * args.batch_size, (t + 1) * args.batch_size)
            test_err_sum += sess.run(test_err, {x_lab: testx[ran],
                                                labels: testy[ran]})
    test_errors.append(test_err_sum / nr_batches_test)

    print("Iteration %d, time = %ds, loss_lab = %.4f, loss_unl = %.4f, "
          "train err = %.4f, test err = %.4f"
          % (epoch, time.time() - begin, loss_lab_sum / nr_batches_train,
             loss_unl_sum / nr_batches_train,
             train_err_sum / nr_batches_train, test_errors[-1]))

print("final test error (Polyak-averaged discriminator): %.4f"
      % test_errors[-1])
sess.close()
