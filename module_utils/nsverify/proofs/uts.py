"""UTS proof: a hostname set inside is seen inside and not on the host (NS-UTS-001)."""

from __future__ import annotations

import os

from ansible.module_utils.nsverify import procfs, syscalls
from ansible.module_utils.nsverify.proofs import base

TYPE = "uts"
CONTROL_IDS = ("NS-UTS-001",)


def _inside(rendezvous, new_name, restore):
    before = os.uname().nodename
    syscalls.sethostname(new_name)
    try:
        seen = os.uname().nodename
        rendezvous(
            {"inside_before": before, "inside_saw": seen, "inside_inode": os.stat(procfs.ns_path("self", "uts")).st_ino}
        )
    finally:
        # a joined namespace outlives the proof: give it its name back
        if restore:
            syscalls.sethostname(before)
    return {"restored": restore and os.uname().nodename == before}


def prove(ctx):
    target = ctx.target
    if target.shares_engine(TYPE) and not target.sandboxed:
        # The behavioural check would write this host's hostname: never do that.
        ctx.add(
            base.check(
                "NS-UTS-001",
                False,
                {
                    "inside_inode": target.inode(TYPE),
                    "host_inode": base.own_inode(TYPE),
                    "hostname_written": False,
                    "host_hostname": os.uname().nodename,
                },
                reason="the target is this host's own UTS namespace (same inode); the hostname write "
                "was not attempted because it would rename the host",
            )
        )
        return
    new_name = "nsv-%s" % base.token()
    host_before = os.uname().nodename

    def host_look(data):
        seen = dict(data)
        seen.update(host_saw=os.uname().nodename, host_inode=base.own_inode(TYPE))
        return seen

    res, host = base.held(_inside, host_look, args=(new_name, not target.fresh), **ctx.options_for(TYPE))
    value = base.require_ok(res, "UTS probe")
    ev = {"set_inside": new_name, "host_before": host_before}
    ev.update(value)
    if host is None:
        ctx.add(base.check("NS-UTS-001", False, ev, reason="the inside never reported back"))
        return
    ev.update(host)
    passed = ev["inside_saw"] == new_name and ev["host_saw"] != new_name
    ctx.add(base.check("NS-UTS-001", passed, ev))
