"""Data init once per training run under between-graph replication.

Each worker of a TensorFlow cluster (`tf.train.Server`, a
`replica_device_setter` putting the variables on parameter servers) builds
its own graph.  `ReplicatedDataInit` makes the data init of that model run
exactly once per run:

* **pooled** (default): every worker feeds its own init batch.  Per layer,
  each worker adds its ``count``, ``sum(t)`` and ``sum(t**2)`` (float64
  accumulators on the parameter server, so the sums lose nothing that
  matters) and enqueues a token; the chief dequeues one token per worker
  and releases them all; each worker then reads the pooled statistics
  and goes on to the next layer, as SyncReplicasOptimizer's token queues
  synchronize its workers.  Only the chief assigns g and bias.
* **chief only** (``pooled=False``): the chief initializes from its batch.

The chief runs its part from the scaffold's ``init_fn``, which TensorFlow
calls only when it initialized the variables rather than restoring them,
then sets a ``done`` variable that checkpoints keep.  The other workers'
hook contributes (if pooled and not done) and waits for ``done`` before
the first step.  A restarted worker or chief finds ``done`` set (on the
parameter server, or restored from the checkpoint) and runs nothing: no
re-init over trained weights.
"""
import contextlib
import time
import weakref

from tf1_wn import normalization
from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.data_init import collection
from tf1_wn.data_init import scaffold as scaffold_lib

_ACTIVE = weakref.WeakKeyDictionary()


def active():
    """The `ReplicatedDataInit` pooling in the default graph, or None."""
    return _ACTIVE.get(tf.get_default_graph())


def _timeout_options(timeout_secs):
    return tf.RunOptions(timeout_in_ms=int(timeout_secs * 1000))


class ReplicatedDataInit:
    """Data init of a between-graph replicated model, once per run.

    Build it in every worker's graph, under the same device setter as the
    model, then::

        data_init = tf1_wn.ReplicatedDataInit(num_workers, is_chief)
        with data_init.pooling():
            model(x_init, init=True)            # the init pass
        train_op = ...
        with tf.train.MonitoredTrainingSession(
                master=server.target, is_chief=is_chief,
                checkpoint_dir=run_dir,
                scaffold=data_init.scaffold(feed_fn=init_feed),
                hooks=[data_init.hook(feed_fn=init_feed)]) as sess:
            ...

    Args:
      num_workers: the number of workers that train (each contributes its
        init batch when `pooled`).
      is_chief: whether this process is the chief (``task_index == 0`` by
        convention).
      pooled: pool the statistics of every worker's init batch (True), or
        take the chief's batch only (False).
      timeout_secs: how long the init pass, and a worker's wait for it,
        may take before failing with DeadlineExceededError / RuntimeError
        (a worker that never starts would otherwise block the run).
      name: variable scope of the ``done`` flag and the accumulators.

    Raises:
      RuntimeError: in eager mode.
      ValueError: a bad `num_workers` or `timeout_secs`.
    """

    def __init__(self, num_workers, is_chief, pooled=True,
                 timeout_secs=600.0, name="tf1_wn_data_init"):
        validation.assert_graph_mode("tf1_wn.ReplicatedDataInit")
        self._num_workers = validation.positive_int("num_workers",
                                                    num_workers)
        self._is_chief = bool(is_chief)
        self._pooled = bool(pooled)
        self._timeout_secs = validation.positive_number("timeout_secs",
                                                        timeout_secs)
        with tf.variable_scope(name) as scope:
            self._scope = scope
            self._done = tf.get_variable(
                "done", [], tf.bool, initializer=tf.constant_initializer(
                    False), trainable=False, use_resource=True)
            self._mark_done = self._done.assign(True)
        self._release_ops = []
        self._init = None

    @property
    def is_chief(self):
        return self._is_chief

    @property
    def pooled(self):
        """Whether every worker's init batch is pooled."""
        return self._pooled

    @property
    def timeout_secs(self):
        """The bound on the init pass and on a worker's wait, seconds."""
        return self._timeout_secs

    @property
    def done(self):
        """The bool variable set once the data init ran."""
        return self._done

    @contextlib.contextmanager
    def pooling(self):
        """Build the init pass inside: its layers pool across workers."""
        graph = tf.get_default_graph()
        if not self._pooled:
            yield self
            return
        if graph in _ACTIVE:
            raise RuntimeError("ReplicatedDataInit.pooling cannot be nested.")
        _ACTIVE[graph] = self
        try:
            yield self
        finally:
            del _ACTIVE[graph]

    def pool(self, key, count, mean, m2):
        """This worker's ``(count, mean, m2)`` for layer `key`, pooled over
        every worker (blocks, in the graph, until all contributed)."""
        dtype = mean.dtype
        channels = mean.shape.as_list()
        with tf.variable_scope(self._scope, reuse=tf.AUTO_REUSE), \
                tf.name_scope(self._scope.name + "/"):
            def accumulator(suffix, shape):
                return tf.get_variable(
                    f"{key}/{suffix}", shape, tf.float64,
                    initializer=tf.zeros_initializer(), trainable=False,
                    use_resource=True)
            total = accumulator("count", [])
            sums = accumulator("sum", channels)
            squares = accumulator("sum_of_squares", channels)
            with tf.device(total.device):
                # shared_name: every worker's graph opens the same queues.
                arrivals, release = (tf.FIFOQueue(
                    self._num_workers, [tf.int32], shapes=[[]],
                    shared_name=f"{self._scope.name}/{key}/{what}",
                    name=f"{key}/{what}".replace("/", "_"))
                    for what in ("arrivals", "release"))
            n, s, sq = normalization.sums_from_moments(
                *(tf.cast(x, tf.float64) for x in (count, mean, m2)))
            add = tf.group(total.assign_add(n), sums.assign_add(s),
                           squares.assign_add(sq))
            with tf.control_dependencies([add]):
                arrive = arrivals.enqueue(tf.constant(0))
            with tf.control_dependencies([arrive]):
                token = release.dequeue()
            with tf.control_dependencies([token]):
                pooled_n = total.read_value()
                pooled_sum = sums.read_value()
                pooled_sq = squares.read_value()
            if self._is_chief:
                with tf.device(total.device):
                    # The arrived tokens themselves: release depends on
                    # every arrival (zeros_like of a static shape would not).
                    tokens = arrivals.dequeue_many(self._num_workers)
                    self._release_ops.append(release.enqueue_many(tokens))
        pooled = normalization.moments_from_sums(pooled_n, pooled_sum,
                                                 pooled_sq)
        return tuple(tf.cast(x, dtype) for x in pooled)

    def _init_run(self):
        """The op this worker runs for the init (built once)."""
        if self._init is None:
            ops = tf.get_collection(collection.INIT_OPS)
            if not ops:
                raise ValueError(
                    "No data-init ops found: build the init pass (layers "
                    "with init=True) before ReplicatedDataInit.scaffold or "
                    ".hook.")
            self._init = tf.group(*ops, *self._release_ops,
                                  name="replicated_data_init")
        return self._init

    def scaffold(self, feed_dict=None, feed_fn=None, scaffold=None):
        """The chief's `tf.train.Scaffold` (others get `scaffold` as is).

        On the chief, its ``init_fn`` runs the init pass (with the
        other workers' contributions when pooled) right after the
        variables are initialized, then sets `done`; never after a restore.

        Args:
          feed_dict, feed_fn: the feed of this worker's init batch (see
            `tf1_wn.data_init_scaffold`).
          scaffold: a scaffold to extend.

        Returns:
          A `tf.train.Scaffold`.
        """
        init = self._init_run()
        if not self._is_chief:
            return scaffold or tf.train.Scaffold()
        options = _timeout_options(self._timeout_secs)

        def run(session, feed):
            session.run(init, feed_dict=feed, options=options)
            session.run(self._mark_done)
        return scaffold_lib.scaffold_running(run, feed_dict, feed_fn,
                                             scaffold)

    def hook(self, feed_dict=None, feed_fn=None, poll_secs=0.2):
        """The `tf.train.SessionRunHook` of the workers that are not chief.

        After the session is created it contributes this worker's init
        batch (pooled, and the init not done yet) and waits until the
        chief set `done`; then training starts.  On the chief it does
        nothing.

        Args:
          feed_dict, feed_fn: the feed of this worker's init batch.
          poll_secs: how often to look at `done` while waiting.

        Returns:
          A `tf.train.SessionRunHook`.
        """
        scaffold_lib.check_feed(feed_dict, feed_fn)
        return _WaitForDataInit(self, self._init_run(), feed_dict, feed_fn,
                                poll_secs)


class _WaitForDataInit(tf.train.SessionRunHook):

    def __init__(self, replicated, init, feed_dict, feed_fn, poll_secs):
        self._replicated = replicated
        self._init = init
        self._feed_dict = feed_dict
        self._feed_fn = feed_fn
        self._poll_secs = poll_secs
        #: Whether this process contributed to a pooled init.
        self.contributed = False

    def after_create_session(self, session, coord):
        del coord
        replicated = self._replicated
        if replicated.is_chief:
            return
        timeout = replicated.timeout_secs
        deadline = time.monotonic() + timeout
        if replicated.pooled and not session.run(replicated.done):
            feed = self._feed_fn() if self._feed_fn else self._feed_dict
            session.run(self._init, feed_dict=feed,
                        options=_timeout_options(timeout))
            self.contributed = True
        while not session.run(replicated.done):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"tf1-wn: the chief did not finish the data init within "
                    f"timeout_secs={timeout}: is the chief running?")
            time.sleep(self._poll_secs)
