"""The cgroup limits of a running container, enforced: what the start wrote is read back at every run,
and a limit changed from outside (e.g. by a workload that mounted its own view of the hierarchy from a
child user namespace, issue 10 escape 1) is reported and written again.

    drift(state)    {file: {'want', 'now'}} of the limits that differ from what the start wrote
    restore(state)  write them again (twice over, for files that must be written in an order, such as
                    memory.limit_in_bytes <= memory.memsw.limit_in_bytes); ContainerError when a
                    limit cannot be restored: the container is then compromised, stop and start it
"""

from __future__ import annotations

import os

from ansible.module_utils.nsverify import cgroups
from ansible.module_utils.nsverify.container.config import ContainerError

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def expected(path, value):
    """What the kernel shows for `value` written to `path`: memory limits are counted in whole pages."""
    if os.path.basename(path).startswith("memory.") and value.isdigit():
        return str(int(value) // PAGE * PAGE)
    return value


def recorded(running_state):
    return ((running_state or {}).get("cgroups") or {}).get("limits") or {}


def drift(running_state):
    """{file: {'want': written value, 'now': value read back (None when unreadable)}} of the tampered limits."""
    out = {}
    for path, value in sorted(recorded(running_state).items()):
        now = cgroups.read_value(path)
        if now != expected(path, value):
            out[path] = {"want": value, "now": now}
    return out


def describe(tampered):
    return ", ".join("%s %s (want %s)" % (p, d["now"], d["want"]) for p, d in sorted(tampered.items()))


def restore(running_state):
    """Write the tampered limits again; returns drift() as it was before. Raises ContainerError when one stays off."""
    tampered = drift(running_state)
    errors = {}
    for _unused in range(2):
        for path in sorted(drift(running_state)):
            try:
                with open(path, "w") as fh:
                    fh.write(recorded(running_state)[path])
                errors.pop(path, None)
            except OSError as exc:
                errors[path] = exc.strerror
    left = drift(running_state)
    if left:
        raise ContainerError(
            "container %s is compromised: its cgroup limits were changed from outside and could not be restored "
            "(%s%s): stop it and start it again (state=stopped, then started)"
            % (
                running_state.get("name"),
                describe(left),
                "; " + "; ".join("%s: %s" % kv for kv in sorted(errors.items())) if errors else "",
            ),
            tampered_limits=tampered,
        )
    return tampered
