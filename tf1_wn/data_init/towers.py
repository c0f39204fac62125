"""Towers built in lockstep, so data init pools its statistics across them.

A data-init layer in tower k needs, before it can return its initialized
output, the statistics of the same layer in every other tower, and those
towers are built by the same Python function.  `build_towers` therefore
builds each tower in its own thread, the way TensorFlow's MirroredStrategy
builds its replicas (`make_template` supports exactly this), but one thread
at a time, in a fixed order, so the graph is the same on every run:

    tower 0 up to layer 1's statistics, tower 1 up to them, ..., tower N-1,
    which pools them; tower 0 on to layer 2's statistics, tower 1, ...

The pooled statistics equal those of one init over the concatenated
batch.  Each tower contributes ``(count, mean, m2)`` per channel, m2 being
the sum of squared deviations from its own mean, and Chan's formula pools
them (the information of sums of ``t`` and ``t**2``, without their
cancellation in float32).  g and bias are assigned once, and every tower's
initialized output uses the pooled values, so downstream layers see the
same initialized activations in every tower.

Each thread starts in the caller's graph, name scope, variable scope and
tf-slim ``arg_scope`` stack, under ``tf.device(devices[k])``.  The caller's
device, colocation and control-dependency scopes do not carry into the
towers (as with MirroredStrategy): pass `devices`.
"""
import threading

from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.errors import TowerMismatchError

_LOCAL = threading.local()


def current_tower():
    """The `_Tower` the calling thread builds, or None outside towers."""
    return getattr(_LOCAL, "tower", None)


def _arg_stack():
    """tf-slim's ``arg_scope`` stack: one module-level list for all
    threads, so each tower's entries are swapped in and out with it."""
    from tf_slim.ops import arg_scope as arg_scope_lib
    return arg_scope_lib._get_arg_stack()  # pylint: disable=protected-access


class _Aborted(Exception):
    """Raised in the other towers when one of them failed."""


class _Round:
    def __init__(self, key, num_towers):
        self.key = key
        self.parts = [None] * num_towers
        self.result = None


class _Coordinator:
    """Runs the tower threads one at a time and pools at each round."""

    def __init__(self, num_towers):
        self.num_towers = num_towers
        self.condition = threading.Condition()
        self.turn = 0
        self.rounds = []
        self.finished = [False] * num_towers
        self.error = None
        self.arg_stacks = [list(_arg_stack()) for _ in range(num_towers)]
        self.shared = {}

    def _wait_for_turn(self, index):
        while self.turn != index and self.error is None:
            self.condition.wait()
        if self.error is not None:
            raise _Aborted()
        _arg_stack()[:] = self.arg_stacks[index]

    def _pass_turn(self, index):
        self.arg_stacks[index] = list(_arg_stack())
        following = [(index + step) % self.num_towers
                     for step in range(1, self.num_towers + 1)]
        self.turn = next((k for k in following if not self.finished[k]),
                         None)
        self.condition.notify_all()

    def start(self, index):
        with self.condition:
            self._wait_for_turn(index)

    def finish(self, index, error=None):
        with self.condition:
            if error is not None and self.error is None:
                self.error = error
            self.finished[index] = True
            pending = [r.key for r in self.rounds if r.result is None]
            if self.error is None and pending:
                self.error = TowerMismatchError(
                    f"Tower {index} finished while other towers wait to "
                    f"pool the data-init statistics of {pending[0]!r}: "
                    "every tower must build the same init layers in the "
                    "same order.")
            self._pass_turn(index)

    def pool(self, index, round_index, key, part, pool_fn):
        with self.condition:
            if round_index == len(self.rounds):
                if any(self.finished):
                    done = self.finished.index(True)
                    raise TowerMismatchError(
                        f"Tower {index} initializes {key!r}, which tower "
                        f"{done} never reached: every tower must build the "
                        "same init layers in the same order.")
                self.rounds.append(_Round(key, self.num_towers))
            current = self.rounds[round_index]
            if current.key != key:
                raise TowerMismatchError(
                    f"Tower {index} initializes {key!r} where tower 0 "
                    f"initializes {current.key!r}: every tower must build "
                    "the same init layers in the same order.")
            current.parts[index] = part
            if index == self.num_towers - 1:
                current.result = pool_fn(current.parts)
            self._pass_turn(index)
            self._wait_for_turn(index)
            return current.result


class _Tower:
    """What a tower's thread knows: its index and the coordinator."""

    def __init__(self, coordinator, index):
        self.coordinator = coordinator
        self.index = index
        self.rounds = 0

    def pool(self, key, part, pool_fn):
        """Contributes `part` for the layer `key`; returns
        ``pool_fn(parts of every tower)``, built once (by the last tower)."""
        result = self.coordinator.pool(self.index, self.rounds, key, part,
                                       pool_fn)
        self.rounds += 1
        return result

    def shared(self, key, build):
        """``build()`` by the first tower to ask (tower 0), the same object
        for the others."""
        shared = self.coordinator.shared
        if key not in shared:
            shared[key] = build()
        return shared[key]


def build_towers(tower_fn, tower_inputs, devices=None):
    """Calls ``tower_fn(tower_inputs[k])`` once per tower, in lockstep.

    Use it for the data-init pass of a model built as towers (one
    `tf.make_template` model called once per device)::

        model = tf.make_template("model", model_fn)
        init_outputs = tf1_wn.build_towers(
            lambda x: model(x, init=True), tf.split(x_init, 4),
            devices=["/gpu:%d" % k for k in range(4)])
        ...
        sess.run(tf1_wn.init_op(), {x_init: init_batch})

    Every init-mode layer and `data_init` of a recurrent cell inside the
    towers pools its statistics over all towers, so one run of the init op
    sets g and bias as a single-device init over the concatenated batch
    would (float64: to 1e-12; float32: to about 1e-6 relative), and each
    tower's init-mode outputs are those of the pooled values.  Outside
    `build_towers` nothing changes.

    Args:
      tower_fn: callable of one argument, building one tower.  It must
        build the same init layers in the same order in every tower.
      tower_inputs: a list or tuple with one argument per tower (a tuple
        entry is passed as one argument).
      devices: optional list of device strings, one per tower.

    Returns:
      A list with the return value of `tower_fn` for each tower.

    Raises:
      RuntimeError: in eager mode.
      TypeError: a non-callable `tower_fn`, `tower_inputs` or `devices` not
        a list or tuple.
      ValueError: empty `tower_inputs`, or `devices` of another length.
      TowerMismatchError: towers initializing different layers.
      Any error `tower_fn` raises, from the first tower that raised it.
    """
    validation.assert_graph_mode("tf1_wn.build_towers")
    validation.check_callable("tower_fn", tower_fn,
                              example="lambda x: model(x, init=True)",
                              allow_none=False)
    if not isinstance(tower_inputs, (list, tuple)) or not tower_inputs:
        raise ValueError(
            "`tower_inputs` must be a non-empty list with one entry per "
            f"tower, got {tower_inputs!r}.")
    if devices is not None:
        if not isinstance(devices, (list, tuple)):
            raise TypeError(
                f"`devices` must be a list of device strings or None, got "
                f"{devices!r}.")
        if len(devices) != len(tower_inputs):
            raise ValueError(
                f"`devices` has {len(devices)} entries for "
                f"{len(tower_inputs)} towers: give one device per tower.")
    if current_tower() is not None:
        raise RuntimeError("tf1_wn.build_towers cannot be nested.")
    graph = tf.get_default_graph()
    # Device and control-dependency stacks per thread, as MirroredStrategy.
    graph.switch_to_thread_local()
    variable_scope = tf.get_variable_scope()
    name_scope = graph.get_name_scope()
    coordinator = _Coordinator(len(tower_inputs))
    main_stack = list(_arg_stack())
    results = [None] * len(tower_inputs)

    def run(index):
        error = None
        try:
            coordinator.start(index)
            _LOCAL.tower = _Tower(coordinator, index)
            with graph.as_default(), tf.variable_scope(variable_scope), \
                    tf.name_scope(name_scope + "/" if name_scope else None), \
                    tf.device(devices[index] if devices else None):
                results[index] = tower_fn(tower_inputs[index])
        except _Aborted:
            pass
        except BaseException as raised:  # re-raised in the caller
            error = raised
        finally:
            _LOCAL.tower = None
            coordinator.finish(index, error)

    threads = [threading.Thread(target=run, args=(k,), daemon=True,
                                name=f"tf1_wn_tower_{k}")
               for k in range(len(tower_inputs))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        _arg_stack()[:] = main_stack
    if coordinator.error is not None:
        raise coordinator.error
    return results
