"""The probe runs code in a forked child inside new or joined namespaces, for real."""

import errno
import os
import signal
import time

import pytest

from ansible.module_utils.nsverify import catalog, probe, procfs, syscalls

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


def test_setup_failure_names_its_stage():
    res = probe.run(os.getpid, setup=lambda: 1 / 0)
    assert not res["ok"] and res["stage"] == "setup" and "ZeroDivisionError" in res["error"]


def test_run_checked_raises_probe_error_with_the_result():
    with pytest.raises(probe.ProbeError) as info:
        probe.run_checked(os.getpid, unshare=0x1)
    assert info.value.result["stage"] == "unshare"


# ---------------------------------------------------------------- spawn: the one protocol
def _outcome(child_fn, **options):
    with probe.spawn(child_fn, **options) as child:
        return probe.outcome(child)


def _held(chan, word):
    chan.ready({"pid": os.getpid(), "word": word})
    answer = chan.recv()
    return {"got": answer, "pid": os.getpid()}


def test_spawn_ready_send_result_round_trip():
    with probe.spawn(_held, args=("hello",)) as child:
        ready = child.recv()
        assert ready == {"ready": {"pid": child.pid, "word": "hello"}}
        assert child.pid == child.child_pid != os.getpid()
        child.send({"go": 1})
        assert child.recv() == {"result": {"got": {"go": 1}, "pid": child.pid}}
        assert child.recv() is None  # EOF: the child has gone
    assert child.returncode == 0


def test_outcome_skips_other_messages_and_returns_the_run_result():
    with probe.spawn(_held, args=("x",)) as child:
        assert "ready" in child.recv()
        child.send({})
        res = probe.outcome(child)
    assert res["ok"] and res["value"]["got"] == {}


@root_only
def test_spawn_fork_reports_the_host_pid_of_pid_1_first():
    def inside(chan):
        with open("/proc/self/status") as fh:
            nspid = [line.split()[1:] for line in fh if line.startswith("NSpid:")][0]
        chan.ready(nspid)
        return os.getpid()

    with probe.spawn(inside, unshare=catalog.CLONE_NEWPID) as child:
        nspid = child.recv()["ready"]
        assert child.pid != child.child_pid and nspid == [str(child.pid), "1"]
        assert child.recv() == {"result": 1}


def test_spawn_fork_passes_the_exit_code_of_child_fn_on():
    with probe.spawn(lambda chan: os._exit(7), fork=True) as child:
        assert child.recv() is None
    assert child.returncode == 7


def test_spawn_error_message_names_stage_errno_and_errname():
    with probe.spawn(_held, args=("x",), unshare=0x1) as child:
        msg = child.recv()
    assert (
        msg
        == {
            "error": msg["error"],
            "stage": "unshare",
            "errno": errno.EINVAL,
            "errname": "EINVAL",
        }
        and "Invalid argument" in msg["error"]
    )
    assert child.returncode == 1


def test_spawn_error_in_child_fn_carries_the_traceback():
    with probe.spawn(lambda chan: {}["missing"]) as child:
        msg = child.recv()
    assert msg["stage"] == "run" and "KeyError" in msg["error"] and msg["errno"] is None


def test_spawn_join_in_the_given_order_and_fds_opened_by_the_caller():
    fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
    res = _outcome(lambda chan: _uts_inode(), join=[("uts", fd)])
    assert res["ok"] and res["value"] == _uts_inode()
    with pytest.raises(OSError):
        os.fstat(fd)  # spawn closed the caller's copy


def test_recv_times_out_and_close_kills_and_reaps():
    child = probe.spawn(lambda chan: time.sleep(30), timeout=0.3)
    started = time.monotonic()
    with pytest.raises(probe.SpawnTimeout):
        child.recv()
    child.close(grace=0.2)
    assert time.monotonic() - started < 5 and child.returncode == 128 + signal.SIGKILL


def test_an_exception_in_the_with_block_kills_the_child():
    with pytest.raises(RuntimeError):
        with probe.spawn(lambda chan: time.sleep(30)) as child:
            raise RuntimeError("caller failed")
    assert child.returncode == 128 + signal.SIGKILL


def test_keep_fds_closes_every_other_fd():
    r, w = os.pipe()
    os.set_inheritable(r, True)

    def look(chan, fd):
        try:
            os.fstat(fd)
            return "open"
        except OSError:
            return "closed"

    try:
        assert _outcome(look, args=(r,))["value"] == "open"
        assert _outcome(look, args=(r,), keep_fds=())["value"] == "closed"
        assert _outcome(look, args=(r,), keep_fds=(r,))["value"] == "open"
    finally:
        os.close(r)
        os.close(w)


def test_stdio_goes_to_the_given_file(tmp_path):
    log = tmp_path / "console.log"

    def speak(chan):
        os.write(1, b"out\n")
        os.write(2, b"err\n")
        return os.read(0, 10)

    res = _outcome(lambda chan: speak(chan).decode(), stdio=str(log))
    assert res["ok"] and res["value"] == "" and log.read_text() == "out\nerr\n"


def test_detach_leaves_a_child_that_is_not_ours():
    def detached(chan):
        chan.ready(os.getppid())
        return chan.recv()

    with probe.spawn(detached, detach=True, setsid=True) as child:
        ppid = child.recv()["ready"]
        assert child.pid != child.child_pid and ppid != os.getpid()
        assert child.wait() == 0  # the direct child left at once
        assert os.getsid(child.pid) == child.child_pid  # the session the direct child made
        child.send({"stop": True})
        assert child.recv() == {"result": {"stop": True}}
        assert child.recv() is None  # its end of the pipe closed: it has exited


@root_only
def test_request_maps_from_child_fn_after_its_own_user_namespace():
    def inside(chan):
        syscalls.unshare(catalog.CLONE_NEWUSER)
        chan.request_maps()
        with open("/proc/self/uid_map") as fh:
            return fh.read().split()

    maps = [{"inside": 0, "outside": 100000, "count": 65536}]
    res = _outcome(inside, uid_map=maps, gid_map=maps)
    assert res["ok"] and res["value"] == ["0", "100000", "65536"], res


@root_only
def test_a_map_the_kernel_refuses_is_an_id_map_error():
    bad = [(0, 100000, 10), (5, 200000, 10)]  # overlapping inside ranges: EINVAL
    res = probe.run(os.getpid, unshare=catalog.CLONE_NEWUSER, uid_map=bad, gid_map=[(0, 100000, 10)])
    assert not res["ok"] and res["stage"] == "id_map" and res["errname"] == "EINVAL", res
    assert "writing uid/gid map" in res["error"]


# ---------------------------------------------------------------- writers
def test_write_all_writes_more_than_a_pipe_buffer():
    r, w = os.pipe()
    data = os.urandom(200000)

    def read_all(chan):
        os.close(w)
        return probe.read_until_eof(r, time.monotonic() + 10).hex()

    with probe.spawn(read_all) as child:
        os.close(r)
        probe.write_all(w, data)
        os.close(w)
        assert bytes.fromhex(probe.outcome(child)["value"]) == data


@pytest.mark.parametrize(
    "offsets,text",
    [
        ({"monotonic": 100}, "monotonic 100 0\n"),
        ({"monotonic": -5, "boottime": 86400}, "boottime 86400 0\nmonotonic -5 0\n"),
        ({"boottime": 1.5}, "boottime 1 500000000\n"),
        ({"monotonic": -1.25}, "monotonic -2 750000000\n"),
    ],
    ids=["one-clock", "both-sorted-negative", "fraction", "negative-fraction"],
)
def test_format_timens_offsets(offsets, text):
    assert probe.format_timens_offsets(offsets) == text


def test_write_timens_offsets_into_a_captured_proc(tmp_path):
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "timens_offsets").write_text("")
    probe.write_timens_offsets({"monotonic": 7}, pid=42, proc=str(tmp_path))
    assert (tmp_path / "42" / "timens_offsets").read_text() == "monotonic 7 0\n"


def test_id_maps_in_both_shapes_format_alike():
    assert probe.format_id_map([{"inside": 0, "outside": 1000, "count": 1}]) == probe.format_id_map([(0, 1000, 1)])


has_time_ns = pytest.mark.skipif(not os.path.exists("/proc/self/ns/time"), reason="no time namespaces here")


@root_only
@has_time_ns
def test_time_offsets_apply_in_the_forked_child():
    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    res = probe.run(
        time.clock_gettime,
        args=(time.CLOCK_MONOTONIC,),
        unshare=catalog.CLONE_NEWTIME,
        time_offsets={"monotonic": 100000},
    )
    assert res["ok"] and res["value"] - before >= 100000, res


def test_join_cgroups_writes_the_child_into_each_procs_file_first(tmp_path):
    # a cgroup.procs file takes "0" for "the writer"; plain files show what was written, and when
    files = [tmp_path / "a.procs", tmp_path / "b.procs"]
    fds = [os.open(str(f), os.O_WRONLY | os.O_CREAT, 0o600) for f in files]
    res = _outcome(lambda chan: [f.read_text() for f in files], join_cgroups=fds)
    assert res["ok"] and res["value"] == ["0", "0"]
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)  # closed in the caller


def test_pdeathsig_ends_the_child_with_its_parent():
    def middle(chan):
        grand = probe.spawn(lambda c: time.sleep(30), pdeathsig=signal.SIGKILL)
        chan.ready(grand.child_pid)
        chan.recv()  # killed here

    with probe.spawn(middle) as child:
        grand = child.recv()["ready"]
        child.kill()
        child.wait()
    deadline = time.monotonic() + 5
    while not _gone_or_zombie(grand) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _gone_or_zombie(grand)


def _gone_or_zombie(pid):
    try:
        return procfs.read_stat(pid)["state"] in ("Z", "X")
    except OSError:
        return True
