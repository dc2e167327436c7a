"""Processes of a container nobody records: a start killed after init was spawned and before state.json
was written leaves an init that only its cgroups (nsv-<name>, made for this container alone) still name.
stop() kills them so that the cgroups can go ("cgroups still busy" otherwise)."""

from __future__ import annotations

import os
import signal
import time


def pids_in(dirs):
    pids = set()
    for d in dirs:
        try:
            with open(os.path.join(d, "cgroup.procs")) as fh:
                pids.update(int(line) for line in fh if line.strip())
        except (OSError, ValueError):
            continue
    return pids


def kill_in_cgroups(dirs, timeout=5.0):
    """SIGKILL every process in the cgroup directories `dirs` until they are empty; the pids killed."""
    killed = set()
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        left = pids_in(dirs)
        if not left or time.monotonic() > deadline:
            return sorted(killed)
        for pid in left - killed:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
