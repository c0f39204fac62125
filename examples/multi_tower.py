"""A multi-tower (data-parallel) model with shared weight-normalized layers.

The TF1 recipe for several devices, here on two CPU "devices" (a session
config with ``device_count={'CPU': 2}``):

* the model is a `tf.compat.v1.make_template`, so every call shares one set
  of variables;
* data-dependent init runs on every tower with `tf1_wn.build_towers`: each
  tower takes the statistics of its slice of the init batch, they are
  pooled, and g and bias are set as one init over the whole batch would
  set them (one init op per layer, not one per tower);
* every tower computes gradients on its slice of the batch; the averaged
  gradients are applied once.

    python examples/multi_tower.py [--steps 100] [--towers 2]
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import tensorflow.compat.v1 as tf
from sklearn.datasets import load_digits

import tf1_wn

tf.disable_eager_execution()


def model(images, init=False):
    """A small weight-normalized CNN; `scope=` names make the layers
    shareable."""
    h = tf1_wn.conv2d(images, 16, 3, activation=tf.nn.relu,
                      init=init, scope="conv0")
    h = tf1_wn.conv2d(h, 32, 3, strides=2,
                      activation=tf.nn.relu, init=init, scope="conv1")
    h = tf.reduce_mean(h, [1, 2])
    # Small initial logits (std 0.1 after data init): a calm start for softmax.
    return tf1_wn.dense(h, 10, init=init, init_scale=0.1, scope="logits")


def average_gradients(tower_grads):
    """[[(grad, var), ...] per tower] -> [(mean grad, var), ...]."""
    averaged = []
    for grads_and_vars in zip(*tower_grads):
        grads = [g for g, _ in grads_and_vars]
        averaged.append((tf.add_n(grads) / len(grads), grads_and_vars[0][1]))
    return averaged


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--towers", type=int, default=2)
    args = parser.parse_args()

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target
    rng = np.random.RandomState(0)

    tf.set_random_seed(0)
    net = tf.make_template("net", model)
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    y = tf.placeholder(tf.int64, [None])
    x_init = tf.placeholder(tf.float32, [None, 8, 8, 1])
    optimizer = tf.train.AdamOptimizer(3e-3)

    # Data init over every tower, statistics pooled; the first tower's call
    # creates the variables.
    with tf.name_scope("data_init"):
        tf1_wn.build_towers(lambda part: net(part, init=True),
                            tf.split(x_init, args.towers),
                            devices=[f"/cpu:{i}" for i in range(args.towers)])

    tower_grads, tower_losses = [], []
    for i, (xs, ys) in enumerate(zip(tf.split(x, args.towers),
                                     tf.split(y, args.towers))):
        with tf.device(f"/cpu:{i}"), tf.name_scope(f"tower{i}"):
            logits = net(xs)  # reuses the template's variables
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=ys, logits=logits))
            tower_grads.append(optimizer.compute_gradients(loss))
            tower_losses.append(loss)
            print(f"tower {i}: loss computed on {loss.device}")
    train_op = optimizer.apply_gradients(average_gradients(tower_grads))
    mean_loss = tf.add_n(tower_losses) / args.towers
    accuracy = tf.reduce_mean(
        tf.cast(tf.equal(tf.argmax(net(x), 1), y), tf.float32))

    shared = net.trainable_variables
    print(f"{args.towers} towers share {len(shared)} variables: "
          + ", ".join(v.op.name for v in shared))
    print("init ops:", len(tf.get_collection(tf1_wn.INIT_OPS)),
          "(one per layer)")

    config = tf.ConfigProto(device_count={"CPU": args.towers},
                            allow_soft_placement=True)
    with tf.Session(config=config) as sess:
        print("devices:", ", ".join(d.name.split("device:")[-1]
                                    for d in sess.list_devices()))
        sess.run(tf.global_variables_initializer())
        # The init batch must split evenly over the towers.
        sess.run(tf1_wn.init_op(), {
                 x_init: images[rng.permutation(len(images))[:256]]})

        batch_size = 32 * args.towers  # tf.split needs a multiple of --towers
        for step in range(1, args.steps + 1):
            batch = rng.randint(0, len(images), batch_size)
            _, value = sess.run([train_op, mean_loss], {
                                x: images[batch], y: labels[batch]})
            if step % max(1, args.steps // 4) == 0 or step == args.steps:
                print(f"step {step:4d}  mean tower loss {value:.4f}")
        print(
            "accuracy on all digits: "
            f"{sess.run(accuracy, {x: images, y: labels}):.3f}")


if __name__ == "__main__":
    main()
