"""The kernel capability audit: one verdict per namespace type, with its evidence.

For each type the audit gathers static evidence (release against the type's first
kernel, the /proc/self/ns entry, the kernel config line, the user.max_*_namespaces
limit) and, unless told not to, tries to create one for real in a forked child.
The live attempt decides; static evidence that disagrees with it is reported as a
`contradiction`, never silently dropped. Verdicts come from catalog.VERDICTS.

Rooms: audit.evidence reads the host (every reader takes its root: proc, sys, boot, so
that tests can point it at a captured tree); audit.probes makes the live attempt (a
`prober` callable, so that simulated kernels can feed errnos; the default really forks);
audit.verdicts weighs both into a verdict and a reason. This module puts the facts together.
"""

from __future__ import annotations

import errno
import os

from ansible.module_utils.nsverify import catalog, controls, kernel
from ansible.module_utils.nsverify.audit import evidence, probes, verdicts

# The names callers know from this module.
NOBODY_UID = probes.NOBODY_UID
PROBE_TIMEOUT = probes.PROBE_TIMEOUT
count_namespaces = evidence.count_namespaces
decide = verdicts.decide
live_prober = probes.live_prober
run_probes = probes.run_probes

POLICY_KEYS = (
    "unprivileged_userns_clone",
    "apparmor_restrict_unprivileged_userns",
    "max_user_namespaces",
    "cmdline",
    "seccomp",
)


def _counts(proc, names, euid, privilege):
    """count_namespaces, with why the counts are only a lower bound."""
    counts = count_namespaces(proc, names)
    why = []
    if euid != 0:
        why.append("not root")
    if privilege["initial_user_ns"] is False:
        why.append("not in the initial user namespace")
    if counts["processes_unreadable"]:
        why.append("%d process(es) unreadable" % counts["processes_unreadable"])
    counts["lower_bound"] = bool(why) or counts["lower_bound"]
    counts["lower_bound_because"] = ", ".join(why) or None
    return counts


def _type_facts(name, rel, options, config_path, policy, prober, exercised, roots, euid, offline):
    """facts['types'][name] without its count."""
    static, ev = evidence.type_evidence(name, rel, options, config_path, roots["sys"], roots["proc"], euid, offline)
    result = None
    if exercised:
        result, direct = probes.run_probes(name, prober)
        ev["probe"] = dict(result, attempted=True)
        if direct is not None:
            ev["probe"]["direct"] = {k: direct[k] for k in ("errno", "errname", "stage")}
    verdict, reason, contradiction = verdicts.decide(name, rel, static, result, policy, exercised, offline)
    if verdict == "denied":
        ev["policy"] = {k: policy[k] for k in POLICY_KEYS}
    return {
        "verdict": verdict,
        "reason": reason,
        "control_id": controls.audit_control(name).id,
        "evidence": ev,
        "contradiction": contradiction,
        "count": None,
        "limit": static["limit"],
    }


def audit(
    types=None,
    release=None,
    probe=True,
    prober=None,
    proc="/proc",
    sys="/proc/sys",
    boot="/boot",
    machine=None,
    euid=None,
    offline=False,
):
    """Audit namespace support; returns the ansible_facts.nsverify structure.

    release: the running kernel's release (default uname -r); a malformed one raises ValueError.
    offline: audit an installed but not running kernel `release` from /boot/config-<release> only:
      nothing of the running kernel (/proc entries, limits, probes) is taken as its evidence.
    prober: callable(name, via_user_namespace=False, uid=None) -> result dict (default: live_prober).
    """
    names = catalog.validate_names(catalog.TYPE_NAMES if types is None else types)
    uname = os.uname()
    rel = kernel.parse_release(release if release is not None else uname.release)
    prober = prober or probes.live_prober
    exercised = bool(probe) and not offline
    euid = os.geteuid() if euid is None else euid

    if offline:
        config_path, options = evidence.read_boot_config(rel.raw, boot)
    else:
        config_path, options = kernel.read_config(rel.raw, proc=proc, boot=boot)

    privilege = evidence.read_privilege(proc, euid)
    policy = evidence.read_userns_policy(rel.raw, proc, sys)
    counts = _counts(proc, names, euid, privilege) if not offline else None
    facts = {
        "kernel": {"release": rel.raw, "version": list(kernel.version_tuple(rel)), "machine": machine or uname.machine},
        "config": {"source": config_path},
        "privilege": privilege,
        "mode": "offline" if offline else ("live" if exercised else "static"),
        "types": {},
        "userns_policy": policy,
        "cgroup": evidence.read_cgroup(proc) if not offline else {"layout": None, "mounts": []},
        "headroom": None,
        "summary": {},
    }
    roots = {"proc": proc, "sys": sys}
    for name in names:
        entry = _type_facts(name, rel, options, config_path, policy, prober, exercised, roots, euid, offline)
        entry["count"] = counts["counts"].get(name) if counts else None
        facts["types"][name] = entry

    _unprivileged_policy(facts, prober, exercised, euid)
    if counts is not None:
        facts["headroom"] = _headroom(facts["types"], counts)
    facts["summary"] = {v: [n for n in names if facts["types"][n]["verdict"] == v] for v in catalog.VERDICTS}
    return facts


def _unprivileged_policy(facts, prober, exercised, euid):
    """Can an unprivileged user create a user namespace and use a capability inside it?
    As root, the probe drops to nobody in the child; otherwise the caller is the subject."""
    policy = facts["userns_policy"]
    policy["unprivileged_can_create"] = None
    policy["unprivileged_can_use_capabilities"] = None
    policy["unprivileged_probe"] = None
    if not exercised:
        return
    if euid == 0 and facts["privilege"]["initial_user_ns"] is not False:
        subject = "uid %d (the probe child drops root's privileges)" % NOBODY_UID
        res = probes.normalise(prober("user", via_user_namespace=False, uid=NOBODY_UID), uid=NOBODY_UID)
    else:
        # a non-root caller, or root of a non-initial user namespace: the caller is the subject
        subject = "the caller (euid %d%s)" % (
            euid,
            "" if facts["privilege"]["initial_user_ns"] else ", not in the initial user namespace",
        )
        user = facts["types"].get("user")
        res = dict(user["evidence"]["probe"]) if user else probes.normalise(prober("user", via_user_namespace=False))
    policy["unprivileged_probe"] = {k: res.get(k) for k in ("ok", "stage", "errno", "errname", "capability", "as_uid")}
    policy["unprivileged_probe"]["subject"] = subject
    if res.get("stage") == "setuid":
        policy["notes"].append(
            "could not switch to uid %d here (%s): unprivileged policy not exercised" % (NOBODY_UID, res.get("errname"))
        )
        return
    policy["unprivileged_can_create"] = bool(res.get("ok"))
    cap = res.get("capability")
    policy["unprivileged_can_use_capabilities"] = bool(res.get("ok") and cap and cap.get("ok"))
    if res.get("ok") and cap and not cap.get("ok"):
        policy["notes"].append(
            "an unprivileged user namespace is created without usable capabilities (%s: %s)"
            % (cap.get("action"), cap.get("errname"))
        )
    elif not res.get("ok"):
        cause = ""
        if res.get("errno") == errno.EPERM and policy["unprivileged_userns_clone"] == 0:
            cause = ": kernel.unprivileged_userns_clone=0"
        policy["notes"].append(
            "an unprivileged user cannot create a user namespace (%s%s)" % (res.get("errname"), cause)
        )


def _headroom(types, counts):
    rows = {}
    for name, entry in types.items():
        count, limit = entry["count"], entry["limit"]
        rows[name] = {
            "count": count,
            "limit": limit,
            "headroom": (limit - count) if (count is not None and limit is not None) else None,
        }
    return {
        "control_id": "NS-KRN-010",
        "lower_bound": counts["lower_bound"],
        "processes_unreadable": counts["processes_unreadable"],
        "nsfs_mounts": counts["nsfs_mounts"],
        "note": (
            "counts are distinct namespaces seen in /proc/*/ns and nsfs bind mounts%s; a limit applies per "
            "user within each user namespace, so headroom is a conservative estimate"
            % (
                " (a lower bound: %s)" % (counts.get("lower_bound_because") or "no process was readable")
                if counts["lower_bound"]
                else ""
            )
        ),
        "types": rows,
    }
