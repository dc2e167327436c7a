"""The audit's verdict of one type: static evidence and the live attempt, weighed.

The live attempt decides; static evidence that disagrees with it is kept as a
`contradiction`. What an errno stands for (denied, limit-zero, not-built, unknown) is
the catalogue's one table (catalog.verdict_for_errno), shared with the proofs and the
container; this room adds the reasons, which cite the evidence. One function per kind
of evidence: no attempt (static only), a namespace made, and each errno verdict.
"""

from __future__ import annotations

import errno as _errno

from ansible.module_utils.nsverify import catalog


class Case:
    """What every branch reads about one type: its catalogue entry and the static evidence."""

    def __init__(self, name, release, static, result=None, policy=None):
        self.name = name
        self.t = catalog.get(name)
        self.first = catalog.version_string(self.t.first_kernel)
        self.rel = release.raw
        self.static = static
        self.result = result or {}
        self.policy = policy
        self.gate = static["gate"]
        # entry absent on a kernel that would show it: the kernel lacks the type
        self.entry_missing = static["entry_present"] is False and static["entry_expected"]
        self.config_unset = static["config_value"] == "n"
        self.limit = static["limit"]
        self.contradictions = []
        err = self.result.get("errno")
        self.errname = self.result.get("errname") or (str(err) if err is not None else None)
        self.via = " inside a new user namespace" if self.result.get("via_user_namespace") else ""

    def below_first(self):
        return "release %s is below %s's first kernel %s" % (self.rel, self.name, self.first)

    def joined(self):
        return "; ".join(self.contradictions) if self.contradictions else None


def decide(name, release, static, result=None, policy=None, exercised=True, offline=False):
    """The verdict of one type from its static evidence and the live result.

    static: {gate, entry_present, entry_expected, config_value, limit}
    result: normalised prober result (final attempt), or None when not exercised.
    Returns (verdict, reason, contradiction)."""
    case = Case(name, release, static, result, policy)
    if not exercised or result is None:
        return static_only(case, offline)
    if result["ok"]:
        return created(case)
    kind = catalog.verdict_for_errno(result["errno"], result.get("stage"))
    if kind == "not-built":
        return refused_not_built(case)
    if kind == "limit-zero":
        return refused_limit(case)
    if case.entry_missing or case.config_unset:
        t = case.t
        what = (
            ("/proc/self/ns/%s is missing" % t.proc_entry)
            if case.entry_missing
            else ("%s is not set" % t.config_option)
        )
        return "not-built", "%s; the probe failed with %s" % (what, case.errname or result.get("stage")), None
    if kind == "denied":
        return refused_denied(case)
    return inconclusive(case)


def static_only(case, offline):
    """No attempt was made (probe=false, or an offline audit of a kernel that is not running)."""
    t, static, rel = case.t, case.static, case.rel
    if offline:
        note = "not exercised: offline audit of release %s, which is not running (%s)" % (
            rel,
            "config %s" % static["config_source"]
            if static.get("config_source")
            else "no /boot/config-%s readable" % rel,
        )
    else:
        note = "not exercised (probe=false): static checks only"
    if not case.gate:
        if static["entry_present"]:
            return (
                "unknown",
                "%s; %s, but /proc/self/ns/%s exists" % (note, case.below_first(), t.proc_entry),
                "release %s is below %s but the /proc entry exists" % (rel, case.first),
            )
        return "kernel-too-old", "%s; %s" % (note, case.below_first()), None
    if case.entry_missing:
        return "not-built", "%s; /proc/self/ns/%s is missing" % (note, t.proc_entry), None
    if case.config_unset:
        return "not-built", "%s; %s is not set in the kernel config" % (note, t.config_option), None
    if case.limit == 0:
        return "limit-zero", "%s; %s is 0" % (note, t.limit_sysctl), None
    policy = case.policy
    if case.name == "user" and policy and policy.get("unprivileged_userns_clone") == 0 and static.get("euid"):
        return "denied", "%s; kernel.unprivileged_userns_clone=0 and the caller is not root" % note, None
    if offline:
        return "unknown", "%s; the version gate and the config raise no objection" % note, None
    return "unknown", "%s; release, /proc entry, config and limit raise no objection" % note, None


def created(case):
    """unshare(2) worked: supported, unless the user namespace's capabilities do not work."""
    t, name, via = case.t, case.name, case.via
    cap = case.result.get("capability")
    if name == "user" and cap is not None and not cap.get("ok"):
        if cap.get("errno") == _errno.ENOSPC:
            return (
                "unknown",
                "a user namespace was created, but no namespace was left to use a capability in "
                "(%s: ENOSPC), so its capabilities could not be tested" % cap.get("action"),
                None,
            )
        return (
            "denied",
            "a user namespace was created but using a capability inside it failed "
            "(%s: %s): an LSM policy such as kernel.apparmor_restrict_unprivileged_userns strips "
            "capabilities from new user namespaces" % (cap.get("action"), cap.get("errname")),
            None,
        )
    if not case.gate:
        case.contradictions.append(
            "%s, yet a %s namespace was created: the live probe wins (backport, or a misleading "
            "release string)" % (case.below_first(), name)
        )
    if case.entry_missing:
        case.contradictions.append("/proc/self/ns/%s is missing, yet creation worked" % t.proc_entry)
    if case.config_unset:
        case.contradictions.append(
            "the kernel config says %s is not set, yet creation worked (config file of another build?)"
            % t.config_option
        )
    if case.limit == 0:
        case.contradictions.append("%s reads 0, yet creation worked" % t.limit_sysctl)
    if name == "user" and cap is not None:
        via += " and %s worked inside it" % cap.get("action")
    return "supported", "a new %s namespace was created just now%s" % (name, via), case.joined()


def refused_not_built(case):
    """EINVAL from unshare(2): the kernel lacks the type (or predates it)."""
    t, rel = case.t, case.rel
    if not case.gate:
        return "kernel-too-old", "%s and unshare(%s) gives EINVAL" % (case.below_first(), t.flag_name), None
    reason = "unshare(%s) gives EINVAL%s: the kernel was built without it" % (t.flag_name, case.via)
    if case.entry_missing:
        reason += "; /proc/self/ns/%s is missing" % t.proc_entry
    if case.config_unset:
        reason += "; %s is not set" % t.config_option
    if case.name == "user" and ".el7" in rel:
        reason += "; RHEL 7 before 7.4 needs user_namespace.enable=1 on the kernel command line"
    return "not-built", reason, None


def refused_limit(case):
    """ENOSPC (EUSERS before 4.9): a user.max_<type>_namespaces limit or the nesting depth."""
    t, name, errname, via = case.t, case.name, case.errname, case.via
    if not case.gate:
        case.contradictions.append(
            "%s, yet the kernel counted a %s namespace against a limit" % (case.below_first(), name)
        )
    if case.result.get("stage") == "unshare-user":
        max_user = case.policy.get("max_user_namespaces") if case.policy else None
        return (
            "denied",
            "an unprivileged caller needs a user namespace first, and creating one gave %s "
            "(user.max_user_namespaces=%s)" % (errname, max_user),
            case.joined(),
        )
    if case.limit == 0:
        reason = "%s is 0: unshare(%s)%s gives %s" % (t.limit_sysctl, t.flag_name, via, errname)
    else:
        reason = (
            "unshare(%s)%s gives %s while %s reads %s: the limit of an ancestor user namespace, "
            "this user's count, or the nesting depth (32) is exhausted"
            % (t.flag_name, via, errname, t.limit_sysctl, case.limit)
        )
    if name == "user" and ".el7" in case.rel:
        reason += "; RHEL 7 defaults user.max_user_namespaces to 0"
    return "limit-zero", reason, case.joined()


def refused_denied(case):
    """EPERM/EACCES (some LSMs, SELinux, refuse with EACCES): no privilege, or a policy."""
    t, name, errname = case.t, case.name, case.errname
    if not case.gate and not case.static["entry_present"]:
        return (
            "kernel-too-old",
            "%s and no /proc entry exists; the probe was refused (%s), so it could not confirm"
            % (case.below_first(), errname),
            None,
        )
    if not case.gate:
        case.contradictions.append("%s, but /proc/self/ns/%s exists" % (case.below_first(), t.proc_entry))
    if case.result.get("stage") == "unshare-user" and not case.static.get("euid"):
        reason = "unshare(%s) gives EPERM, and so does the retry's user namespace (%s): %s" % (
            t.flag_name,
            errname,
            userns_refusal_cause(case),
        )
    elif case.result.get("stage") == "unshare-user":
        reason = "an unprivileged caller needs a user namespace, and creating one was refused (%s): %s" % (
            errname,
            userns_refusal_cause(case),
        )
    elif name == "user":
        reason = "unshare(CLONE_NEWUSER) gives %s: %s" % (errname, userns_refusal_cause(case))
    else:
        reason = "unshare(%s)%s gives %s: no CAP_SYS_ADMIN in the owning user namespace, an LSM or a seccomp filter" % (
            t.flag_name,
            case.via,
            errname,
        )
    return "denied", reason, case.joined()


def userns_refusal_cause(case):
    """The one cause of an EPERM from unshare(CLONE_NEWUSER) that the evidence shows: Debian's switch for
    an unprivileged caller (it never stops a caller with CAP_SYS_ADMIN), else the seccomp filter the
    audit runs under, else what was ruled out (what remains is an LSM's userns_create hook)."""
    policy = case.policy or {}
    euid = case.static.get("euid")
    switch = policy.get("unprivileged_userns_clone")
    if euid and switch == 0:
        return (
            "kernel.unprivileged_userns_clone=0 (Debian's switch) forbids user namespaces to callers without "
            "CAP_SYS_ADMIN, and this caller is euid %d" % euid
        )
    filt = policy.get("seccomp") or {}
    if filt.get("mode") == 2:
        return (
            "the seccomp filter this process runs under refuses it (Seccomp: 2, %s filter(s) in /proc/self/status)"
            % (filt.get("filters"))
        )
    if switch is None:
        ruled_out = "kernel.unprivileged_userns_clone is absent"
    else:
        ruled_out = "kernel.unprivileged_userns_clone=%s%s" % (switch, "" if euid else ", which does not apply to root")
    mode = filt.get("mode")
    return "neither the sysctl (%s) nor a seccomp filter (Seccomp: %s) explains it: an LSM's userns_create hook" % (
        ruled_out,
        "unknown" if mode is None else mode,
    )


def inconclusive(case):
    """Any other failure (ENOSYS, a timeout, a crash): unknown, with what was seen."""
    result = case.result
    detail = case.errname or (result.get("error") or "no result").splitlines()[-1][:200]
    if not case.gate:
        return "kernel-too-old", "%s; the probe was inconclusive (%s)" % (case.below_first(), detail), None
    if result.get("errno") == _errno.ENOSYS:
        return "unknown", "unshare(2) gives ENOSYS: a seccomp filter or an emulated kernel", None
    return "unknown", "the probe failed at stage %s: %s" % (result.get("stage"), detail), None
