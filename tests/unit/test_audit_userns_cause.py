"""Issue 12: an EPERM from unshare(CLONE_NEWUSER) names its one cause from the audit's evidence, on SIMULATED
kernels (injected /proc and /proc/sys roots, a prober feeding the errno the real kernel gives): Debian's
kernel.unprivileged_userns_clone=0 for an unprivileged caller, the seccomp filter the audit runs under, and for
root a switch that does not apply to it. The same cause for real: tests/integration/test_audit_seccomp_denied.py
(seccomp, as root) and the molecule guest nsv-userns (the Debian switch, as nsvuser)."""

import errno

import pytest
from test_audit_simulated import ALL, SimulatedKernel, run_audit

from ansible.module_utils.nsverify import catalog

S, OLD, NB, LZ, DN, UK = catalog.VERDICTS
SWITCH_OFF = {"kernel.unprivileged_userns_clone": 0}
SECCOMP_ON = "Seccomp:\t2\nSeccomp_filters:\t1\n"


def _host(**kw):
    return dict(dict(release="6.1.0-25-amd64"), **kw)


CASES = [
    pytest.param(
        _host(
            euid=65534,
            sysctls=SWITCH_OFF,
            kernel=SimulatedKernel(
                direct=dict({t: errno.EPERM for t in ALL}),
                via_user={t: ("unshare-user", errno.EPERM) for t in ALL},
            ),
        ),
        {t: DN for t in ALL},
        {
            "user": ["unshare(CLONE_NEWUSER) gives EPERM", "kernel.unprivileged_userns_clone=0", "euid 65534"],
            "net": ["needs a user namespace", "EPERM", "kernel.unprivileged_userns_clone=0"],
        },
        ["an LSM", "seccomp filter"],
        id="debian-switch-0-unprivileged-names-the-sysctl",
    ),
    pytest.param(
        _host(status_extra=SECCOMP_ON, kernel=SimulatedKernel(direct={"user": errno.EPERM})),
        dict({t: S for t in ALL}, user=DN),
        {"user": ["EPERM", "the seccomp filter this process runs under", "Seccomp: 2, 1 filter(s)"]},
        ["kernel.unprivileged_userns_clone=0", "an LSM"],
        id="root-under-seccomp-names-the-filter",
    ),
    pytest.param(
        _host(
            sysctls=SWITCH_OFF,
            status_extra="Seccomp:\t0\nSeccomp_filters:\t0\n",
            kernel=SimulatedKernel(direct={"user": errno.EPERM}),
        ),
        dict({t: S for t in ALL}, user=DN),
        {"user": ["kernel.unprivileged_userns_clone=0, which does not apply to root", "Seccomp: 0", "LSM"]},
        ["forbids user namespaces to callers"],
        id="root-with-switch-0-is-not-blamed-on-the-switch",
    ),
    pytest.param(
        _host(
            sysctls=SWITCH_OFF,
            status_extra=SECCOMP_ON,
            euid=1000,
            kernel=SimulatedKernel(direct={"user": errno.EPERM}),
        ),
        dict({t: S for t in ALL}, user=DN),
        {"user": ["kernel.unprivileged_userns_clone=0", "euid 1000"]},
        ["seccomp"],
        id="unprivileged-switch-0-wins-over-a-filter-it-makes-irrelevant",
    ),
    pytest.param(
        _host(
            limits=dict({t: 63000 for t in ALL}, user=0),
            sysctls={"kernel.unprivileged_userns_clone": 1},
            kernel=SimulatedKernel(direct={"user": errno.ENOSPC}),
        ),
        dict({t: S for t in ALL}, user=LZ),
        {"user": ["user.max_user_namespaces is 0", "ENOSPC"]},
        ["kernel.unprivileged_userns_clone"],
        id="root-with-max_user_namespaces-0-is-limit-zero",
    ),
]


@pytest.mark.parametrize("host, expect, words, not_words", CASES)
def test_userns_refusal_names_its_cause(tmp_path, host, expect, words, not_words):
    facts, _ = run_audit(tmp_path, host)
    got = {t: v["verdict"] for t, v in facts["types"].items()}
    reasons = {t: v["reason"] for t, v in facts["types"].items()}
    assert got == expect, reasons
    for t, must in words.items():
        for w in must:
            assert w in reasons[t], (t, w, reasons[t])
    for w in not_words:
        assert w not in reasons["user"], (w, reasons["user"])


def test_seccomp_state_is_evidence_of_a_denied_user_type(tmp_path):
    facts, _ = run_audit(tmp_path, CASES[1].values[0])
    policy = facts["types"]["user"]["evidence"]["policy"]
    assert policy["seccomp"] == {"mode": 2, "filters": 1}
    assert any("seccomp filter" in n for n in facts["userns_policy"]["notes"])


def test_root_audit_notes_that_nobody_is_refused_by_the_switch(tmp_path):
    host = _host(sysctls=SWITCH_OFF, kernel=SimulatedKernel(nobody=errno.EPERM))
    facts, _ = run_audit(tmp_path, host)
    assert facts["types"]["user"]["verdict"] == S
    notes = facts["userns_policy"]["notes"]
    assert "an unprivileged user cannot create a user namespace (EPERM: kernel.unprivileged_userns_clone=0)" in notes


def test_no_status_file_leaves_seccomp_unknown_not_off(tmp_path):
    facts, _ = run_audit(tmp_path, _host(kernel=SimulatedKernel(direct={"user": errno.EPERM})))
    (tmp_path / "proc" / "self" / "status").unlink()
    from ansible.module_utils.nsverify.audit import evidence

    assert evidence.read_seccomp(str(tmp_path / "proc")) == {"mode": None, "filters": None}
