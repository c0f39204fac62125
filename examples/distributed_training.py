"""Between-graph replicated training on TensorFlow's PS/worker runtime.

One parameter server holds the variables; every worker builds its own
graph under `replica_device_setter` and trains asynchronously in a
`MonitoredTrainingSession`.  `tf1_wn.ReplicatedDataInit` runs the data
init once per training run, pooled over every worker's init batch (or the
chief's only, ``--init chief``): the chief assigns g and bias, the other
workers wait for it before their first step, and a restarted worker or
chief never runs it again.

On one machine, in three terminals (any free ports)::

    python examples/distributed_training.py --job ps --task 0 \\
        --ps localhost:2222 --workers localhost:2223,localhost:2224
    python examples/distributed_training.py --job worker --task 0 \\
        --ps localhost:2222 --workers localhost:2223,localhost:2224 \\
        --run_dir /tmp/wn_run
    python examples/distributed_training.py --job worker --task 1 \\
        --ps localhost:2222 --workers localhost:2223,localhost:2224 \\
        --run_dir /tmp/wn_run

Each worker prints one JSON object per line (``"event"``: ``"session"``,
``"step"``, ``"done"``), which `tests/distributed/test_cluster.py` reads.
"""
import argparse
import json
import sys
import time

import numpy as np
from tf1_wn import quiet

quiet.import_tensorflow()
import tensorflow.compat.v1 as tf  # noqa: E402

import tf1_wn  # noqa: E402
from tf1_wn import native_ops  # noqa: E402

INPUT_DIM, CLASSES, INIT_BATCH, BATCH = 6, 3, 64, 32


def model(x, init=False):
    """An MLP of weight-normalized dense layers."""
    h = tf1_wn.dense(x, 16, activation=tf.nn.relu, init=init, scope="hidden1")
    h = tf1_wn.dense(h, 16, activation=tf.nn.relu, init=init, scope="hidden2")
    return tf1_wn.dense(h, CLASSES, init=init, init_scale=0.1,
                        scope="logits")


def init_batch(task):
    """Worker `task`'s init batch (each worker has its own)."""
    rng = np.random.RandomState(100 + task)
    return (rng.normal(size=(INIT_BATCH, INPUT_DIM)) * (1 + task)
            + task).astype(np.float32)


def data(rng):
    """A synthetic 3-class problem: the class is the sign pattern."""
    x = rng.normal(size=(BATCH, INPUT_DIM)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    return x, y


def emit(**event):
    print(json.dumps(event), flush=True)


def run_parameter_server(server):
    # Ops placed on this server need their kernels here too.  Without a
    # compiler the workers build composed ops as well, so none are needed.
    try:
        native_ops.load()
    except tf1_wn.NativeOpsError:
        pass
    emit(event="ps_ready")
    server.join()


def run_worker(args, cluster, server):
    is_chief = args.task == 0
    num_workers = len(args.workers.split(","))
    tf.set_random_seed(0)
    setter = tf.train.replica_device_setter(
        worker_device=f"/job:worker/task:{args.task}", cluster=cluster)
    with tf.device(setter):
        global_step = tf.train.get_or_create_global_step()
        net = tf.make_template("net", model)
        x_init = tf.placeholder(tf.float32, [None, INPUT_DIM])
        data_init = tf1_wn.ReplicatedDataInit(
            num_workers, is_chief, pooled=args.init == "pooled",
            timeout_secs=args.timeout)
        with data_init.pooling():
            net(x_init, init=True)
        x = tf.placeholder(tf.float32, [None, INPUT_DIM])
        y = tf.placeholder(tf.int64, [None])
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=net(x)))
        train_op = tf.train.AdamOptimizer(args.lr).minimize(
            loss, global_step=global_step)
    feed = {x_init: init_batch(args.task)}
    ran = []
    scaffold = data_init.scaffold(feed_dict=feed)
    chief_init = scaffold.init_fn

    def init_fn(unused_scaffold, session):
        emit(event="init_started", task=args.task)
        chief_init(session)
        ran.append(True)
    scaffold = tf.train.Scaffold(init_fn=init_fn, copy_from_scaffold=scaffold)
    wait = data_init.hook(feed_dict=feed)
    hooks = [wait, tf.train.StopAtStepHook(last_step=args.steps)]
    rng = np.random.RandomState(args.task)
    # Talk to the parameter servers and this worker only: a worker's session
    # then neither waits for nor depends on the other workers.
    config = tf.ConfigProto(device_filters=[
        "/job:ps", f"/job:worker/task:{args.task}"])
    with tf.train.MonitoredTrainingSession(
            master=server.target, is_chief=is_chief, config=config,
            checkpoint_dir=args.run_dir, scaffold=scaffold, hooks=hooks,
            save_checkpoint_steps=args.save_steps, save_summaries_steps=None,
            save_summaries_secs=None, log_step_count_steps=None) as sess:
        emit(event="session", task=args.task,
             global_step=int(sess.run(global_step)),
             ran_init=bool(ran), contributed=wait.contributed)
        while not sess.should_stop():
            xs, ys = data(rng)
            _, step, value = sess.run([train_op, global_step, loss],
                                      {x: xs, y: ys})
            emit(event="step", task=args.task, global_step=int(step),
                 loss=float(value))
            time.sleep(args.step_delay)
    emit(event="done", task=args.task)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=["ps", "worker"], required=True)
    parser.add_argument("--task", type=int, required=True)
    parser.add_argument("--ps", required=True, help="host:port[,...]")
    parser.add_argument("--workers", required=True, help="host:port,...")
    parser.add_argument("--run_dir", help="checkpoint directory (workers)")
    parser.add_argument("--init", choices=["pooled", "chief"],
                        default="pooled")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--save_steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--step_delay", type=float, default=0.0,
                        help="seconds to sleep after each step")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    tf.disable_eager_execution()
    # The Saver's notices about its TF1 helpers say nothing new here.
    tf.logging.set_verbosity(tf.logging.ERROR)
    cluster = tf.train.ClusterSpec({"ps": args.ps.split(","),
                                    "worker": args.workers.split(",")})
    server = tf.train.Server(cluster, job_name=args.job,
                             task_index=args.task)
    if args.job == "ps":
        run_parameter_server(server)
    elif not args.run_dir:
        sys.exit("--run_dir is required for workers")
    else:
        run_worker(args, cluster, server)


if __name__ == "__main__":
    main()
