"""Fault points for the fault suite (tests/integration/test_faults.py): named stages at which the engine
kills itself with SIGKILL, to prove that a start or a create killed there leaves only what the next run or
teardown finds and removes.

Honoured only when the environment variable NSV_FAULT_STAGE is set, and then only by the process whose
stage it names; unset (always, outside the fault suite) point() does nothing. Stages:

  container:dirs      the run/data dirs and config.json written, no cgroup yet
  container:cgroups   the cgroups made, no init yet
  container:launched  init spawned (in its cgroups), not yet known ready
  container:ready     init ready, no veth and no state.json yet
  container:veth      veth made, no state.json yet
  container:state     state.json written (the start is complete, the module has not answered)
  container:stopping  stop: init killed, cgroups, veth and run dir still there
  namespace:state     named namespace: state "creating" written, no creator yet
  namespace:ready     the namespaces exist (creator/holder), not bind-mounted yet
  namespace:mounted   bind mounts made, state not yet "ready"
"""

from __future__ import annotations

import os
import signal

ENV = "NSV_FAULT_STAGE"
STAGES = (
    "container:dirs",
    "container:cgroups",
    "container:launched",
    "container:ready",
    "container:veth",
    "container:state",
    "container:stopping",
    "namespace:state",
    "namespace:ready",
    "namespace:mounted",
)


def point(stage):
    """SIGKILL this process when NSV_FAULT_STAGE names `stage`; nothing otherwise."""
    if os.environ.get(ENV) == stage:
        os.kill(os.getpid(), signal.SIGKILL)
