"""Where a data-init layer's statistics come from, and who assigns.

Layers and cells build their data init through `moments_pool` and
`assign_once`.  Alone, the statistics are the init batch's and the layer
assigns g and bias.  Inside `tf1_wn.build_towers` the statistics are
pooled over the towers and tower 0 assigns; under a
`tf1_wn.ReplicatedDataInit` ``pooling()`` scope they are pooled over the
workers through the parameter servers and only the chief assigns.  The two
nest: a worker's towers pool first, then the worker contributes once.
"""
from tf1_wn import normalization
from tf1_wn.data_init import collection
from tf1_wn.data_init import replicas
from tf1_wn.data_init import towers
from tf1_wn._tf import tf


def moments_pool(key, place_with):
    """The `pool` argument of `normalization.data_init_statistics`.

    Args:
      key: the layer's key, its gain variable's op name.
      place_with: the gain variable (pooled ops are placed with it).

    Returns:
      None outside towers and replicated init; else a callable mapping
      this batch's ``(count, mean, m2)`` to the pooled ones.
    """
    tower = towers.current_tower()
    replicated = replicas.active()
    if tower is None and replicated is None:
        return None

    def across_workers(count, mean, m2):
        if replicated is None:
            return count, mean, m2
        return replicated.pool(key, count, mean, m2)

    def pool(count, mean, m2):
        if tower is None:
            return across_workers(count, mean, m2)

        def pool_towers(parts):
            with tf.device(place_with.device), tf.name_scope("pooled"):
                return across_workers(*normalization.pooled_moments(parts))
        return tower.pool(key, (count, mean, m2), pool_towers)
    return pool


def assign_once(key, pairs):
    """The layer's init op, added to INIT_OPS once per layer.

    Args:
      key: the layer's key (see `moments_pool`).
      pairs: ``(variable, value)`` pairs to assign (each value cast to its
        variable's dtype).

    Returns:
      The op assigning every pair; inside towers, tower 0's for every
      tower; on a worker that is not the chief of a replicated init, an op
      computing the values (the worker's contribution) that assigns
      nothing.
    """
    def built():
        replicated = replicas.active()
        if replicated is not None and not replicated.is_chief:
            op = tf.group(*[value for _, value in pairs],
                          name="data_init_contribution")
        else:
            op = tf.group(*[tf.assign(variable, tf.cast(value, variable.dtype))
                            for variable, value in pairs], name="data_init")
        return collection.add_init_op(op)
    tower = towers.current_tower()
    if tower is None:
        return built()
    return tower.shared(key, built)
