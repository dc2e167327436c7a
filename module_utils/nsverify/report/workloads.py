"""The workload controls NS-WKL-001..012 judged from one host's namespace_inspect result.

Each control gets one record per host (the report indexes records by id, so that waivers, drift, the
matrix, JUnit and SARIF work unchanged); the record names every workload it judged in `workloads`
({name, runtime, pid, status, reason}) and in its evidence, and its status is the worst of theirs:
fail when any workload fails, pass when every one passes. A host whose inspection found no workload
has every NS-WKL control as skip with that reason; a host that did not run the inspection
(nsverify_report_workloads off) has none of them (the input is optional, like the container's).
"""

from __future__ import annotations

from ansible.module_utils.nsverify import controls

WORKLOAD_SOURCE = "workload"


def _namespace_check(type_name):
    def check(target):
        ns = (target.get("namespaces") or {}).get(type_name) or {}
        status = ns.get("status")
        evidence = {"status": status, "inode": ns.get("inode"), "host_inode": ns.get("reference_inode")}
        if status == "own":
            return "pass", evidence, "own %s namespace" % type_name
        if status == "shared":
            return "fail", evidence, "shares the host's %s namespace" % type_name
        return "fail", evidence, "the %s namespace could not be compared with the host's" % type_name

    return check


def _user_check(target):
    ns = (target.get("namespaces") or {}).get("user") or {}
    user = target.get("user_namespace") or {}
    evidence = {"status": ns.get("status"), "root_maps_to": user.get("root_maps_to")}
    if ns.get("status") == "shared":
        return "fail", evidence, "runs in the host's user namespace: its root is the host's root"
    if ns.get("status") != "own":
        return "fail", evidence, "the user namespace could not be compared with the host's"
    if user.get("root_maps_to") is None and user.get("uid_map") is None:
        return "fail", evidence, "own user namespace, but its uid_map could not be read"
    if user.get("root_is_host_root"):
        return "fail", evidence, "own user namespace, but uid 0 inside is uid 0 on the host"
    root = user.get("root_maps_to")
    where = "unmapped" if root is None else "uid %s on the host" % root
    return "pass", evidence, "own user namespace, root inside is %s" % where


def _seccomp_check(target):
    seccomp = (target.get("security") or {}).get("seccomp") or {}
    mode = seccomp.get("mode")
    evidence = {"mode": mode, "filters": seccomp.get("filters")}
    if mode == "filter":
        return "pass", evidence, "seccomp filter active (%s filters)" % (seccomp.get("filters") or "some")
    if mode == "strict":
        return "pass", evidence, "seccomp strict mode (only read, write, _exit, sigreturn)"
    return "fail", evidence, "no seccomp filter (mode %s)" % (mode if mode is not None else "unknown")


def _nnp_check(target):
    nnp = (target.get("security") or {}).get("no_new_privs")
    evidence = {"no_new_privs": nnp}
    if nnp is True:
        return "pass", evidence, "no_new_privs is set"
    if nnp is False:
        return "fail", evidence, "no_new_privs is not set"
    return "fail", evidence, "NoNewPrivs could not be read"


def _caps_check(target):
    caps = target.get("capabilities") or {}
    full = caps.get("full_bounding")
    evidence = {"full_bounding": full, "full_effective": caps.get("full_effective")}
    if "bounding" in caps:
        evidence["bounding_count"] = len(caps["bounding"] or [])
    if full is False:
        return "pass", evidence, "bounding set reduced (%s capabilities)" % evidence.get("bounding_count", "fewer")
    if full is True:
        return "fail", evidence, "the bounding set holds every capability"
    return "fail", evidence, "the capability sets could not be read"


def _limit_check(controller):
    def check(target):
        limit = ((target.get("cgroup") or {}).get("limits") or {}).get(controller) or {}
        evidence = {k: limit.get(k) for k in ("value", "file", "version", "error") if limit.get(k) is not None}
        if limit.get("value") is not None:
            return "pass", evidence, "%s limit %s" % (controller, limit["value"])
        if limit.get("error"):
            return "fail", evidence, "no %s limit could be read: %s" % (controller, limit["error"])
        return "fail", evidence, "no %s limit in its cgroup (unlimited)" % controller

    return check


def _checks():
    by_type = controls.workload_namespace_controls()
    out = [(by_type[t].id, _namespace_check(t)) for t in ("net", "pid", "ipc", "uts", "mnt", "cgroup")]
    out += [
        ("NS-WKL-007", _user_check),
        ("NS-WKL-008", _seccomp_check),
        ("NS-WKL-009", _nnp_check),
        ("NS-WKL-010", _caps_check),
        ("NS-WKL-011", _limit_check("pids")),
        ("NS-WKL-012", _limit_check("memory")),
    ]
    return out


CHECKS = _checks()


def inspected_targets(inspection):
    """(targets, errors) of a namespace_inspect result; None when there is no result (optional input)."""
    if isinstance(inspection, list):
        return inspection, []
    if isinstance(inspection, dict) and ("targets" in inspection or "errors" in inspection):
        return [t for t in inspection.get("targets") or [] if isinstance(t, dict)], inspection.get("errors") or []
    return None


def _skip_all(reason, errors):
    evidence = {"workloads": {}, "inspection_errors": errors} if errors else {"workloads": {}}
    return [controls.record(c.id, "skip", evidence, reason, workloads=[]) for c in controls.for_source("workload")]


def _control_record(control_id, check, targets, errors):
    rows, evidence = [], {}
    for t in targets:
        name = t.get("name") or "pid:%s" % t.get("pid")
        status, ev, reason = check(t)
        rows.append(
            {"name": name, "runtime": t.get("runtime"), "pid": t.get("pid"), "status": status, "reason": reason}
        )
        evidence[name] = dict(ev, status=status)
    failed = [r for r in rows if r["status"] == "fail"]
    if failed:
        status = "fail"
        reason = "%d of %d workloads: %s" % (
            len(failed),
            len(rows),
            "; ".join("%s %s" % (r["name"], r["reason"]) for r in failed),
        )
    else:
        status = "pass"
        reason = "all %d workloads: %s" % (len(rows), "; ".join("%s %s" % (r["name"], r["reason"]) for r in rows))
    full = {"workloads": evidence}
    if errors:
        full["inspection_errors"] = errors
    return controls.record(control_id, status, full, reason, workloads=rows)


def evaluate_workloads(inspection):
    """Records for NS-WKL-* from a namespace_inspect result; [] when there is none (optional input)."""
    found = inspected_targets(inspection)
    if found is None:
        return []
    targets, errors = found
    if not targets:
        reason = "no workloads discovered on this host"
        if errors:
            reason += " (%d could not be inspected: %s)" % (
                len(errors),
                "; ".join(str(e.get("error") or e) for e in errors if isinstance(e, dict)),
            )
        return _skip_all(reason, errors)
    return [_control_record(cid, check, targets, errors) for cid, check in CHECKS]
