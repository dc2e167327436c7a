"""The one control record and the one errno -> verdict table."""

import errno

import pytest

from ansible.module_utils.nsverify import catalog, controls


def test_record_carries_the_catalogue_fields():
    rec = controls.record("NS-PID-002", "fail", {"seen": [1, 2]}, "a host process is visible")
    assert rec == {
        "id": "NS-PID-002",
        "title": controls.get("NS-PID-002").title,
        "namespace": "pid",
        "source": "proof",
        "status": "fail",
        "evidence": {"seen": [1, 2]},
        "reason": "a host process is visible",
    }


@pytest.mark.parametrize("control_id,status", [("NS-NOPE-001", "pass"), ("NS-PID-001", "passed")])
def test_record_refuses_unknown_ids_and_statuses(control_id, status):
    with pytest.raises(ValueError):
        controls.record(control_id, status)


@pytest.mark.parametrize(
    "err,stage,verdict",
    [
        (errno.EPERM, "unshare", "denied"),
        (errno.EACCES, "setns", "denied"),
        (errno.ENOSPC, "unshare", "limit-zero"),
        (errno.EUSERS, "unshare", "limit-zero"),
        (errno.EINVAL, "unshare", "not-built"),
        (errno.EINVAL, "setns", "not-built"),
        (errno.EINVAL, "id_map", "unknown"),
        (errno.ENOSYS, "unshare", "unknown"),
        (None, None, "unknown"),
    ],
)
def test_verdict_for_errno(err, stage, verdict):
    assert catalog.verdict_for_errno(err, stage) == verdict
    assert verdict in catalog.VERDICTS


def test_errno_meaning_names_the_limit_and_the_option():
    assert "user.max_time_namespaces is 0" in catalog.errno_meaning(errno.ENOSPC, "time", 0)
    assert "CONFIG_TIME_NS" in catalog.errno_meaning(errno.EINVAL, "time")
    assert "seccomp" in catalog.errno_meaning(errno.EPERM, "user")
