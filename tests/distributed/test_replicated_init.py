"""`tf1_wn.ReplicatedDataInit` in one process: the chief's scaffold, the
worker's wait, pooling with towers inside, and the argument checks.  The
real cluster is in test_cluster.py."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn


def _mlp(x, init=False):
    h = tf1_wn.dense(x, 5, activation=tf.nn.relu, init=init, scope="h")
    return tf1_wn.dense(h, 2, init=init, scope="out")


def _initialized(batch, build):
    """Variable values after `build(model, x)` and one init run."""
    with tf.Graph().as_default():
        tf.set_random_seed(2)
        model = tf.make_template("m", _mlp)
        x = tf.constant(batch)
        run = build(model, x)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(run())
            return {v.op.name: sess.run(v) for v in tf.global_variables()
                    if v.op.name.startswith("m/")}


@pytest.mark.parametrize("towers", [0, 2])
def test_pooled_over_one_worker_is_the_plain_init(rng, towers):
    batch = rng.normal(size=(8, 3)) * 3 + 1

    def plain(model, x):
        model(x, init=True)
        return tf1_wn.init_op

    def replicated(model, x):
        data_init = tf1_wn.ReplicatedDataInit(1, is_chief=True)
        with data_init.pooling():
            if towers:
                tf1_wn.build_towers(lambda part: model(part, init=True),
                                    tf.split(x, towers))
            else:
                model(x, init=True)
        return data_init._init_run  # what the chief's init_fn runs

    want, got = _initialized(batch, plain), _initialized(batch, replicated)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12,
                                   atol=1e-12, err_msg=name)
    # float64 NumPy: each layer's pre-activation on the init batch
    h = batch
    for layer, relu in (("h", True), ("out", False)):
        v = got[f"m/{layer}/v"]
        t = h @ (v / np.sqrt((v ** 2).sum(0) + tf1_wn.DEFAULT_EPS))
        t = t * got[f"m/{layer}/g"] + got[f"m/{layer}/bias"]
        np.testing.assert_allclose(t.mean(0), 0, atol=1e-9)
        # std 1 / sqrt(1 + DATA_INIT_EPS / var)
        np.testing.assert_allclose(t.std(0), 1, rtol=1e-6)
        h = np.maximum(t, 0) if relu else t


def test_chief_scaffold_runs_once_per_run(tmp_path, rng):
    batch = rng.normal(size=(16, 3)).astype(np.float32)
    runs = []

    def train(steps):
        with tf.Graph().as_default():
            step = tf.train.get_or_create_global_step()
            x = tf.placeholder(tf.float32, [None, 3])
            data_init = tf1_wn.ReplicatedDataInit(1, True, pooled=False)
            with data_init.pooling():
                _mlp(x, init=True)
            loss = tf.reduce_mean(tf.square(_mlp(x)))
            train_op = tf.train.AdamOptimizer(0.05).minimize(loss, step)
            scaffold = data_init.scaffold(feed_dict={x: batch})
            with tf.train.MonitoredTrainingSession(
                    checkpoint_dir=str(tmp_path), scaffold=scaffold,
                    hooks=[data_init.hook()], save_summaries_steps=None,
                    save_summaries_secs=None, log_step_count_steps=None,
                    save_checkpoint_steps=1) as sess:
                g, = [v for v in tf.global_variables() if v.op.name == "h/g"]
                runs.append((sess.run(data_init.done), sess.run(g)))
                for _ in range(steps):
                    sess.run(train_op, {x: batch})
                return sess.run(g)
    trained = train(5)
    restarted = train(0)
    first_done, after_init = runs[0]
    assert first_done and runs[1][0]
    np.testing.assert_array_equal(runs[1][1], trained)   # not re-initialized
    assert np.abs(trained - after_init).max() > 1e-4
    np.testing.assert_array_equal(restarted, trained)


def test_a_worker_waits_for_the_chief_and_says_so(graph):
    x = tf.placeholder(tf.float32, [None, 3])
    data_init = tf1_wn.ReplicatedDataInit(2, is_chief=False, pooled=False,
                                          timeout_secs=0.3)
    _mlp(x, init=True)
    hook = data_init.hook(poll_secs=0.05)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(RuntimeError, match="did not finish the data "
                           "init within timeout_secs=0.3"):
            hook.after_create_session(sess, None)
        sess.run(data_init.done.assign(True))
        hook.after_create_session(sess, None)   # returns at once
    assert not hook.contributed


def test_a_pooled_init_missing_workers_times_out(graph, rng):
    x = tf.constant(rng.normal(size=(4, 3)))
    data_init = tf1_wn.ReplicatedDataInit(2, is_chief=True, timeout_secs=0.5)
    with data_init.pooling():
        _mlp(x, init=True)
    scaffold = data_init.scaffold()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(tf.errors.DeadlineExceededError):
            scaffold.init_fn(sess)
        assert not sess.run(data_init.done)


def test_bad_arguments(graph):
    with pytest.raises(ValueError, match="num_workers"):
        tf1_wn.ReplicatedDataInit(0, True)
    with pytest.raises(ValueError, match="timeout_secs"):
        tf1_wn.ReplicatedDataInit(1, True, timeout_secs=-1)
    data_init = tf1_wn.ReplicatedDataInit(1, True, name="a")
    with pytest.raises(ValueError, match="No data-init ops"):
        data_init.scaffold()
    with data_init.pooling():
        with pytest.raises(RuntimeError, match="cannot be nested"):
            with tf1_wn.ReplicatedDataInit(1, True, name="b").pooling():
                pass
    with pytest.raises(TypeError, match="not both"):
        data_init.hook(feed_dict={}, feed_fn=dict)
