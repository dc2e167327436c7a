"""Isolation proofs: one module per namespace type, a registry and a common runner.

Each proof module has TYPE, CONTROL_IDS and prove(ctx), which appends check records
(base.check/base.skip, which are controls.record) to ctx. run() gates each type on the
kernel (the audit's verdict where the cheap gate objects), runs its proof,
and shapes the result that namespace_verify returns:
  {type: {status passed|failed|skipped, verdict, reason, checks: [{id, title, status, evidence}]}}
"""

from __future__ import annotations

import os
import time as _time
import traceback
from collections import OrderedDict

from ansible.module_utils.nsverify import audit, catalog, probe, procfs, syscalls
from ansible.module_utils.nsverify.proofs import base, foreign
from ansible.module_utils.nsverify.proofs import cgroup as _cgroup
from ansible.module_utils.nsverify.proofs import ipc as _ipc
from ansible.module_utils.nsverify.proofs import mnt as _mnt
from ansible.module_utils.nsverify.proofs import net as _net
from ansible.module_utils.nsverify.proofs import pid as _pid
from ansible.module_utils.nsverify.proofs import time as _timens
from ansible.module_utils.nsverify.proofs import user as _user
from ansible.module_utils.nsverify.proofs import uts as _uts

REGISTRY = OrderedDict(
    (m.TYPE, m)
    for m in sorted(
        (_mnt, _uts, _ipc, _pid, _net, _user, _cgroup, _timens), key=lambda m: catalog.TYPE_NAMES.index(m.TYPE)
    )
)


def _skipped(mod, verdict, reason, evidence=None):
    checks = [base.skip(cid, reason, evidence) for cid in mod.CONTROL_IDS]
    return base.shape_result(mod.TYPE, checks, verdict=verdict, reason=reason)


def gate_facts(types, release=None, proc="/proc"):
    """The audit's facts for the types whose cheap kernel gate objects, or None when none does.

    A cheap version and /proc-entry check first (base.kernel_gate); only where it objects is the
    audit engine asked, once for all those types, so that its verdict logic names the verdict
    and both always agree. The audit runs static (probe=false): it creates nothing.
    """
    objecting = [t for t in types if base.kernel_gate(t, release, proc) is not None]
    if not objecting:
        return None
    try:
        return audit.audit(types=objecting, release=release, probe=False, proc=proc)
    except Exception:  # the audit's own trouble must not hide the gate's answer
        return None


def gate(type_name, release=None, proc="/proc", audit_facts=None):
    """(verdict, reason) when the type cannot be proven on this kernel, else None.

    audit_facts: ansible_facts.nsverify of an audit of this host (gate_facts, or namespace_facts'
    own); its verdict names why, where the cheap gate objects."""
    quick = base.kernel_gate(type_name, release, proc)
    if quick is None:
        return None
    found = ((audit_facts or {}).get("types") or {}).get(type_name)
    if found and found.get("verdict") not in (None, "supported", "unknown"):
        return found["verdict"], found["reason"]
    return quick


def _finish_open_checks(ctx, mod, make):
    done = set(c["id"] for c in ctx.checks)
    for cid in mod.CONTROL_IDS:
        if cid not in done:
            ctx.add(make(cid))


def run_one(
    type_name, target, options=None, timeout=probe.DEFAULT_TIMEOUT, release=None, proc="/proc", audit_facts=None
):
    """The proof of one type: gated on the kernel (audit_facts: see gate), never a traceback."""
    mod = REGISTRY[type_name]
    started = _time.monotonic()
    if audit_facts is None:
        audit_facts = gate_facts([type_name], release, proc)
    refused = gate(type_name, release, proc, audit_facts)
    if refused:
        return _skipped(mod, refused[0], refused[1], {"release": release or os.uname().release})
    if not target.fresh and not target.path(type_name):
        return _skipped(mod, "unknown", "the %s target has no %s namespace file" % (target.label, type_name))
    ctx = base.Context(target, options, timeout)
    verdict, reason = "supported", None
    try:
        mod.prove(ctx)
    except base.ProofSkip as exc:
        verdict, reason, evidence = exc.verdict, exc.reason, exc.evidence
        _finish_open_checks(ctx, mod, lambda cid: base.skip(cid, reason, evidence))
    except Exception as exc:  # a proof that errors must not pass: its open checks fail
        reason = "%s proof error: %s" % (type_name, exc)
        evidence = {"error": str(exc), "traceback": traceback.format_exc()[-2000:]}
        if isinstance(exc, base.ProbeFailed):
            evidence["probe"] = exc.result
        _finish_open_checks(ctx, mod, lambda cid: base.check(cid, False, evidence, reason=reason))
    order = {cid: i for i, cid in enumerate(mod.CONTROL_IDS)}
    checks = sorted(ctx.checks, key=lambda c: order.get(c["id"], 99))
    res = base.shape_result(type_name, checks, verdict=verdict, reason=reason)
    res["duration_s"] = round(_time.monotonic() - started, 3)
    return res


def _ev(res, cid):
    for c in res["checks"]:
        if c["id"] == cid and c["status"] != "skip":
            return c["evidence"]
    return None


def key_evidence(type_name, res):
    """One short line of what the proof saw, for tables; never raises."""
    if res["status"] == "skipped" or (res.get("sharing") or {}).get("status") == "shared" or res.get("findings"):
        return res["reason"][:120]
    try:
        return _KEY[type_name](res)
    except Exception:  # a half-filled evidence record: say so, do not crash the table
        return res.get("reason", "")[:120]


def _key_uts(r):
    e = _ev(r, "NS-UTS-001")
    return "inside %s, host %s" % (e.get("inside_saw", "(not written)"), e.get("host_saw", e.get("host_hostname")))


def _key_pid(r):
    e1, e2 = _ev(r, "NS-PID-001"), _ev(r, "NS-PID-002")
    return "NSpid %s; %d visible inside" % ("->".join(str(x) for x in e1["nspid_seen_by_host"]), e2["visible_count"])


def _key_net(r):
    e1, e2 = _ev(r, "NS-NET-001"), _ev(r, "NS-NET-002")
    e3 = _ev(r, "NS-NET-003") or {}
    return "links %s; host connect to :%s %s; veth %s" % (
        ",".join(e1["interfaces_inside"]),
        e2["port"],
        e2["host_connect"],
        "round trip ok" if e3.get("reply") else "no reply",
    )


def _key_mnt(r):
    e1 = _ev(r, "NS-MNT-001")
    props = [c["evidence"]["propagation"] for c in r["checks"][1:] if c["status"] == "pass"]
    what = "propagation ok" if not r.get("sharing") else "kernel propagation (namespaces made by the proof) ok"
    return "host sees inside mount: %s; %s: %s" % (bool(e1["host_mount_points"]), what, ",".join(props) or "none")


def _key_user(r):
    e2, e3 = _ev(r, "NS-USER-002"), _ev(r, "NS-USER-003")
    return "root inside = uid %s outside; host-root file write: %s" % (
        (e2["uid_seen_by_host"] or ["?"])[0],
        e3["result"],
    )


def _key_cgroup(r):
    e = _ev(r, "NS-CGROUP-001")
    differ = [k for k in e["witness_hierarchies"] if k not in e["same_on_both_sides"]]
    k = differ[0] if differ else "0:"
    return "%s inside %s, host %s" % (k.split(":", 1)[1] or "v2", e["inside_view"].get(k), e["host_view"].get(k))


def _key_ipc(r):
    seen = [c["id"] for c in r["checks"] if c["evidence"].get("host_saw_inside_object") == "visible"]
    return "objects crossing: %s" % (",".join(seen) or "none")


_KEY = {
    "uts": _key_uts,
    "pid": _key_pid,
    "net": _key_net,
    "mnt": _key_mnt,
    "user": _key_user,
    "ipc": _key_ipc,
    "cgroup": _key_cgroup,
    "time": lambda r: (
        "monotonic +%ss, boottime +%ss inside"
        % (
            round(_ev(r, "NS-TIME-001")["inside_minus_host_after"]),
            round(_ev(r, "NS-TIME-002")["inside_minus_host_after"]),
        )
    ),
}


def table(results):
    """Rows for people: type, status, checks passed/total, key evidence."""
    rows = []
    for t, r in results.items():
        rows.append(
            {
                "type": t,
                "status": r["status"],
                "passed": sum(1 for c in r["checks"] if c["status"] == "pass"),
                "total": len(r["checks"]),
                "evidence": key_evidence(t, r),
            }
        )
    return rows


def run(
    types=None, target=None, options=None, timeout=probe.DEFAULT_TIMEOUT, release=None, proc="/proc", audit_facts=None
):
    """Run the proofs of `types` (default all eight) against `target` (default fresh).

    audit_facts: an audit of this host to gate the types on (see gate); by default the audit is
    asked once, for the types the cheap kernel gate objects to."""
    types = catalog.validate_names(types or catalog.TYPE_NAMES)
    target = target or base.Target("fresh")
    if audit_facts is None:
        audit_facts = gate_facts(types, release, proc)
    results = OrderedDict()
    ref = foreign.reference(target, proc)
    for t in types:
        res = run_one(t, target, options, timeout, release, proc, audit_facts or {})
        results[t] = foreign.judge(t, res, target, ref, getattr(REGISTRY[t], "KERNEL_CHECKS", ()))
    out_ref = None if ref is None else dict((k, v) for k, v in ref.items())
    return {
        "reference": out_ref,
        "results": results,
        "summary": base.summarize(results),
        "table": table(results),
        "target": target.describe(),
        "privilege": {"euid": os.geteuid(), "rootless": os.geteuid() != 0},
    }


def failed_checks(results):
    """['uts:NS-UTS-001', ...] of every failed check."""
    return ["%s:%s" % (t, c["id"]) for t, r in results.items() for c in r["checks"] if c["status"] == "fail"]


def summary_line(summary):
    """'Count: N, Passed: P, Failed: F, Skipped: S' of run()'s summary (types by outcome)."""
    n = sum(len(v) for v in summary.values())
    return "Count: %d, Passed: %d, Failed: %d, Skipped: %d" % (
        n,
        len(summary["passed"]),
        len(summary["failed"]),
        len(summary["skipped"]),
    )


def result(out):
    """run()'s output in the shape namespace_verify returns (and busybox_container_verify under
    namespace_proofs): msg (the summary line), failed_checks, proofs (per type), reference, summary,
    table, target, privilege."""
    out = dict(out)
    found = out.pop("results")
    return dict(msg=summary_line(out["summary"]), failed_checks=failed_checks(found), proofs=found, **out)


SANDBOX_FLAGS = catalog.CLONE_NEWUTS | catalog.CLONE_NEWNET | catalog.CLONE_NEWNS | catalog.CLONE_NEWIPC


def _private_root():
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def _twin(types, options, timeout):
    target = base.make_target("paths", paths=dict((t, procfs.ns_path("self", t)) for t in types), sandboxed=True)
    return run(types, target, options, timeout)


def run_shared_twin(types=None, options=None, timeout=probe.DEFAULT_TIMEOUT):
    """Self-test: run the proofs against namespaces deliberately shared with their host.

    A probe child in fresh uts/net/mnt/ipc namespaces (mounts private) plays the host, and
    the proofs target that child's own namespaces (paths -> /proc/self/ns/<type>), so every
    behavioural check runs across a boundary that is not there and must fail, while this
    machine's hostname, mounts and links stay untouched. pid, user, cgroup and time are this
    host's own (read-only for those proofs, or cleaned up by them).
    """
    types = catalog.validate_names(types or catalog.TYPE_NAMES)
    res = probe.run(
        _twin,
        args=(types, options, timeout),
        unshare=SANDBOX_FLAGS,
        setup=_private_root,
        timeout=timeout * (len(types) + 1) * 2,
    )
    if not res["ok"]:
        raise base.ProbeFailed(res, "shared-namespace sandbox")
    return res["value"]
