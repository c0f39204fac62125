"""Data init inside `tf.train.MonitoredTrainingSession`, once per run.

A weight-normalized model must be data-initialized exactly once in the life
of a checkpoint directory: on the first start, before the first step and
before the first checkpoint, and never again when a restarted job restores
trained weights.  The two obvious attempts get it wrong:

* a `SessionRunHook` that runs the init op in ``after_create_session``
  runs after every restore, so each restart re-initializes g and bias over
  the trained values; it also runs after `CheckpointSaverHook` may have
  saved step 0 with the values from before the init;
* ``Scaffold(init_fn=lambda scaffold, sess: sess.run(tf1_wn.init_op()))``
  fails, since the graph is finalized by then and `init_op` adds an op.

`data_init_scaffold` builds the init op up front and runs it from the
scaffold's ``init_fn``, which TensorFlow's session manager calls only when
it initialized the variables instead of restoring them, and only on the
chief (workers wait for the chief's variables).
"""
from tf1_wn.data_init import collection
from tf1_wn import validation
from tf1_wn._tf import tf


def data_init_scaffold(feed_dict=None, feed_fn=None, init_op=None,
                       scaffold=None):
    """A `tf.train.Scaffold` whose ``init_fn`` runs data init.

    Build the model (the ``init=True`` pass included) first, then::

        scaffold = tf1_wn.data_init_scaffold(
            feed_fn=lambda: {images: next_init_batch()})
        with tf.train.MonitoredTrainingSession(
                checkpoint_dir=run_dir, scaffold=scaffold) as sess:
            while not sess.should_stop():
                sess.run(train_op, ...)

    The init runs once, on the chief, right after the variables are
    initialized from scratch: before any hook's ``after_create_session``
    (so the step-0 checkpoint already holds the initialized g and bias) and
    never after a restore.

    Args:
      feed_dict: the feed of the init batch, or None when the init pass
        reads the input pipeline itself.
      feed_fn: alternatively, a callable returning that feed, called once
        when the init runs (so the batch is only loaded when needed).
      init_op: the op to run; default `tf1_wn.init_op()` of the default
        graph, built now.
      scaffold: a `tf.train.Scaffold` to extend (its ``init_fn``, if any,
        runs first, and its other fields are kept); default a new one.

    Returns:
      A `tf.train.Scaffold`.

    Raises:
      RuntimeError: in eager mode.
      TypeError: both `feed_dict` and `feed_fn`, a non-callable `feed_fn`,
        or a `scaffold` that is not a `tf.train.Scaffold`.
      ValueError: no data-init op in the graph (see `tf1_wn.init_op`).
    """
    validation.assert_graph_mode("tf1_wn.data_init_scaffold")
    op = init_op if init_op is not None else collection.init_op()

    def run(session, feed):
        session.run(op, feed_dict=feed)
    return scaffold_running(run, feed_dict, feed_fn, scaffold)


def check_feed(feed_dict, feed_fn):
    """The checks of the `feed_dict` / `feed_fn` pair.

    Raises:
      TypeError: both given, or a non-callable `feed_fn`.
    """
    if feed_dict is not None and feed_fn is not None:
        raise TypeError("Give `feed_dict` or `feed_fn`, not both.")
    validation.check_callable("feed_fn", feed_fn,
                              example="lambda: {images: batch}")


def scaffold_running(run, feed_dict, feed_fn, scaffold):
    """A Scaffold whose ``init_fn`` calls ``run(session, feed)`` after the
    ``init_fn`` of `scaffold` (if any); the feed is built when it runs.

    Raises:
      TypeError: as `check_feed`, or a `scaffold` that is not a Scaffold.
    """
    check_feed(feed_dict, feed_fn)
    if scaffold is not None and not isinstance(scaffold, tf.train.Scaffold):
        raise TypeError(
            f"`scaffold` must be a tf.compat.v1.train.Scaffold or None, got "
            f"{type(scaffold).__name__}.")
    previous = scaffold.init_fn if scaffold is not None else None

    def init_fn(unused_scaffold, session):
        del unused_scaffold
        if previous is not None:
            previous(session)
        run(session, feed_fn() if feed_fn is not None else feed_dict)

    return tf.train.Scaffold(init_fn=init_fn, copy_from_scaffold=scaffold)
