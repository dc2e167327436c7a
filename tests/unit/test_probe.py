"""The probe runs code in a forked child inside new or joined namespaces, for real."""

import os
import time

import pytest

from ansible.module_utils.nsverify import catalog, probe

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _uts_inode():
    return os.stat("/proc/self/ns/uts").st_ino


def test_value_comes_back_through_the_pipe():
    res = probe.run(lambda: {"pid": os.getpid(), "list": [1, 2]})
    assert res["ok"] and res["value"]["list"] == [1, 2]
    assert res["value"]["pid"] != os.getpid()


@root_only
def test_new_uts_namespace_differs_and_caller_is_untouched():
    before = _uts_inode()
    res = probe.run(_uts_inode, unshare=catalog.CLONE_NEWUTS)
    assert res["ok"] and res["value"] != before
    assert _uts_inode() == before


@root_only
def test_pid_namespace_function_runs_as_pid_1():
    res = probe.run(os.getpid, unshare=catalog.CLONE_NEWPID)
    assert res == dict(res, ok=True, value=1)


@root_only
def test_uid_map_written_by_parent():
    res = probe.run(
        lambda: open("/proc/self/uid_map").read().split(),
        unshare=catalog.CLONE_NEWUSER,
        uid_map=[(0, 100000, 65536)],
        gid_map=[(0, 100000, 65536)],
    )
    assert res["ok"] and res["value"] == ["0", "100000", "65536"], res


def test_exception_is_reported_with_stage():
    res = probe.run(lambda: 1 / 0)
    assert not res["ok"] and res["stage"] == "run" and "ZeroDivisionError" in res["error"]


def test_bad_flag_reports_errno_at_unshare_stage():
    res = probe.run(os.getpid, unshare=0x1)  # not a CLONE_NEW* flag
    assert not res["ok"] and res["stage"] == "unshare" and res["errname"] == "EINVAL"


def test_join_missing_path_fails_at_open():
    res = probe.run(os.getpid, join={"uts": "/nonexistent/nsv"})
    assert res["stage"] == "open" and res["errname"] == "ENOENT"


def test_timeout_kills_and_reaps_child():
    started = time.monotonic()
    res = probe.run(time.sleep, args=(30,), timeout=0.5)
    assert res["timed_out"] and time.monotonic() - started < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
