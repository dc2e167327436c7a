"""Time proof (NS-TIME-001/002): the monotonic and boottime offsets apply inside, not outside.

A fresh time namespace gets its offsets written to /proc/self/timens_offsets before its
first process exists (time_namespaces(7)); the probe's first process there reads
clock_gettime(CLOCK_MONOTONIC/CLOCK_BOOTTIME) and its offsets file; the host reads its own
clocks around that moment and /proc/<pid>/timens_offsets of the inside process. Pass: the
inside reading minus the offset falls between the host's readings before and after, and the
host's own offsets are zero. A joined namespace is judged by the offsets it already has.
Below 5.6 there are no time namespaces (skipped as kernel-too-old); joining one needs 5.8.
"""

from __future__ import annotations

import os
import time as _time

from ansible.module_utils.nsverify import catalog, kernel, probe, procfs
from ansible.module_utils.nsverify.proofs import base

TYPE = "time"
CONTROL_IDS = ("NS-TIME-001", "NS-TIME-002")
CLOCKS = (
    ("monotonic", "NS-TIME-001", _time.CLOCK_MONOTONIC),
    ("boottime", "NS-TIME-002", getattr(_time, "CLOCK_BOOTTIME", 7)),
)
DEFAULT_OFFSETS = {"monotonic": 3 * 86400, "boottime": 7 * 86400}
SLACK = 0.05  # seconds of scheduling noise allowed around the host's window


parse_timens_offsets = procfs.parse_timens_offsets


def read_timens_offsets(pid="self", proc="/proc"):
    with open(os.path.join(proc, str(pid), "timens_offsets")) as fh:
        return parse_timens_offsets(fh.read())


def _clocks():
    return dict((name, _time.clock_gettime(cid)) for name, _unused, cid in CLOCKS)


def _inside(rendezvous):
    now = _clocks()
    rendezvous(
        {
            "pid": os.getpid(),
            "inside_clocks": now,
            "inside_offsets": read_timens_offsets("self"),
            "inside_inode": os.stat(procfs.ns_path("self", "time")).st_ino,
        }
    )
    return {}


def _offsets_writer(offsets):
    """A probe setup step: the offsets go in before the namespace's first process exists."""

    def setup():
        probe.write_timens_offsets(offsets)

    return setup


def prove(ctx):
    if not ctx.target.fresh and ctx.target.join(TYPE):
        release = os.uname().release
        try:
            if not kernel.at_least(release, catalog.get(TYPE).setns_since):
                raise base.ProofSkip(
                    "kernel-too-old", "setns(2) into a time namespace needs 5.8; this kernel is %s" % release
                )
        except ValueError:
            pass
    wanted = dict(DEFAULT_OFFSETS)
    wanted.update(dict((k, int(v)) for k, v in (ctx.options.get("time_offsets") or {}).items()))
    opts = ctx.options_for(TYPE)
    if ctx.target.fresh:
        opts["setup"] = _offsets_writer(wanted)
    before = _clocks()

    def host_look(data):
        seen = dict(data)
        seen["host_after"] = _clocks()
        seen["host_reads_inside_offsets"] = read_timens_offsets(data["pid"])
        seen["host_offsets"] = read_timens_offsets("self")
        seen["host_inode"] = base.own_inode(TYPE)
        return seen

    res, host = base.held(_inside, host_look, **opts)
    base.require_ok(res, "time-namespace probe")
    if host is None:
        raise base.ProbeFailed(res, "time-namespace probe never reached its rendezvous")
    for name, cid, _unused in CLOCKS:
        expected = wanted[name] if ctx.target.fresh else host["host_reads_inside_offsets"].get(name, 0)
        inside = host["inside_clocks"][name]
        shifted_back = inside - expected
        in_window = before[name] - SLACK <= shifted_back <= host["host_after"][name] + SLACK
        ev = {
            "offset_expected": expected,
            "offset_inside": host["inside_offsets"].get(name),
            "offset_read_by_host": host["host_reads_inside_offsets"].get(name),
            "host_own_offset": host["host_offsets"].get(name),
            "inside_clock": inside,
            "host_clock_before": before[name],
            "host_clock_after": host["host_after"][name],
            "inside_minus_host_after": round(inside - host["host_after"][name], 3),
            "inside_inode": host["inside_inode"],
            "host_inode": host["host_inode"],
        }
        ok = (
            expected != 0
            and in_window
            and host["host_offsets"].get(name) == 0
            and host["inside_offsets"].get(name) == expected
        )
        if expected == 0 and not ctx.target.fresh and host["inside_inode"] != host["host_inode"]:
            ctx.add(base.skip(cid, "own time namespace, %s offset is zero: nothing to prove" % name, ev))
            continue
        reason = None if expected != 0 else "no offset applies inside: the clocks read the host's values"
        ctx.add(base.check(cid, ok, ev, reason=None if ok else reason))
    if all(c["status"] == "skip" for c in ctx.checks):
        raise base.ProofSkip("supported", "own time namespace, offsets are zero: nothing to prove")
