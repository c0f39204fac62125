"""Data-dependent init: the op that runs it, and where and when it runs.

==============  ==========================================================
``collection``  the INIT_OPS collection, `init_op`, `sync_ema`
``towers``      `build_towers`: statistics pooled across in-graph towers
``scaffold``    `data_init_scaffold`: once per run in MonitoredTrainingSession
``replicas``    `ReplicatedDataInit`: once per run of a PS/worker cluster,
                statistics pooled over the workers
``pooling``     what layers call: the statistics to use, who assigns
==============  ==========================================================
"""
from tf1_wn.data_init.collection import (INIT_OPS, add_init_op, init_op,
                                         sync_ema)
from tf1_wn.data_init.scaffold import data_init_scaffold
from tf1_wn.data_init.replicas import ReplicatedDataInit
from tf1_wn.data_init.towers import build_towers

__all__ = ["INIT_OPS", "add_init_op", "init_op", "sync_ema",
           "data_init_scaffold", "build_towers", "ReplicatedDataInit"]
