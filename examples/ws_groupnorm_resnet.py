"""A small ResNet-style net with weight standardization + GroupNorm, trained
at batch size 2 on scikit-learn's 8x8 digits.

Batch norm is useless at batch 2; group norm does not depend on the batch,
and weight standardization of the convs is what makes it train as well
(Qiao et al. 2019).  The net: a WS stem conv, two residual blocks
(WS conv -> GN -> ReLU -> WS conv -> GN, plus the identity), global average
pooling and a dense softmax head.

    .venv/bin/python examples/ws_groupnorm_resnet.py --steps 300

prints the training loss every 100 steps and the test accuracy at the end
(about 0.8-0.9 after 300 steps at batch 2, a few seconds on 2 cores).
"""
import argparse

import numpy as np  # noqa: E402
from tf1_wn import quiet  # noqa: E402

quiet.import_tensorflow()  # without its C++ start-up lines
import tensorflow.compat.v1 as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from tf_slim.layers import normalization as slim_norm  # noqa: E402

import tf1_wn  # noqa: E402

tf.disable_eager_execution()

CHANNELS = 32
GROUPS = 8


def group_norm(x, scope):
    # tf_slim's group_norm works unchanged under Keras 3 (TF 2.21); it is
    # not re-exported from tf_slim.layers, hence the module import.
    return slim_norm.group_norm(x, groups=GROUPS, scope=scope)


def residual_block(x, scope, variant):
    with tf.variable_scope(scope):
        h = tf1_wn.ws_conv2d(x, CHANNELS, 3, variant=variant, use_bias=False,
                             scope="conv1")
        h = tf.nn.relu(group_norm(h, "gn1"))
        h = tf1_wn.ws_conv2d(h, CHANNELS, 3, variant=variant, use_bias=False,
                             scope="conv2")
        return tf.nn.relu(x + group_norm(h, "gn2"))


def model(images, variant):
    h = tf1_wn.ws_conv2d(images, CHANNELS, 3, variant=variant,
                         use_bias=False, scope="stem")
    h = tf.nn.relu(group_norm(h, "stem_gn"))
    h = residual_block(h, "block1", variant)
    h = residual_block(h, "block2", variant)
    h = tf.reduce_mean(h, [1, 2])
    return _dense(h, 10)


def _dense(x, units):
    # Keras 3 removed tf.compat.v1.layers; a plain get_variable head.
    kernel = tf.get_variable("head/kernel", [x.shape[-1], units],
                             initializer=tf.glorot_uniform_initializer())
    bias = tf.get_variable("head/bias", [units],
                           initializer=tf.zeros_initializer())
    return tf.matmul(x, kernel) + bias


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--variant", default="paper",
                        choices=["paper", "paper_tf", "bit", "timm"])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(images))
    train, test = order[:1500], order[1500:]

    tf.set_random_seed(args.seed)
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    y = tf.placeholder(tf.int64, [None])
    with tf.variable_scope("net"):
        logits = model(x, args.variant)
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                       logits=logits))
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), y),
                                      tf.float32))
    train_op = tf.train.AdamOptimizer(args.lr).minimize(loss)

    config = tf.ConfigProto(intra_op_parallelism_threads=2,
                            inter_op_parallelism_threads=1)
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        running = []
        for step in range(1, args.steps + 1):
            batch = rng.choice(train, args.batch, replace=False)
            _, value = sess.run([train_op, loss],
                                {x: images[batch], y: labels[batch]})
            running.append(value)
            if step % 100 == 0 or step == args.steps:
                print(f"step {step:5d}  loss {np.mean(running):.3f}")
                running = []
        test_accuracy = sess.run(accuracy, {x: images[test],
                                            y: labels[test]})
    print(f"test accuracy {test_accuracy:.3f} ({len(test)} digits, "
          f"variant {args.variant!r}, batch {args.batch})")
    return test_accuracy


if __name__ == "__main__":
    main()
