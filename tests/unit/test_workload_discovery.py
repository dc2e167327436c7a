"""Runtime discovery on captured state files and command output: docker's engine API reply and state dir,
podman ps and conmon, crun/runc state, systemd-nspawn machines, lxc-info, the CRI without crictl, and the
rule that a runtime which is not here is absent, never an error."""

import json
import os
import socket
import threading

import pytest

from ansible.module_utils.nsverify import discovery


def test_http_reply_plain_and_chunked():
    plain = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[{"Id": "ab"}]'
    assert discovery.parse_http_response(plain) == (200, b'[{"Id": "ab"}]')
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[1, 2\r\n2\r\n, \r\n2\r\n3]\r\n0\r\n\r\n"
    assert json.loads(discovery.parse_http_response(chunked)[1]) == [1, 2, 3]
    assert discovery.parse_http_response(b"HTTP/1.1 404 Not Found\r\n\r\n{}")[0] == 404


def _fake_engine(path, replies):
    """A unix-socket server answering one GET per connection from `replies` {path: json}."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)

    def serve():
        for _ in range(len(replies)):
            conn, _ = srv.accept()
            request = conn.recv(65536).decode()
            body = json.dumps(replies[request.split()[1]]).encode()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)
            conn.close()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()


def test_docker_engine_api_over_a_unix_socket(tmp_path):
    sock = str(tmp_path / "docker.sock")
    _fake_engine(
        sock,
        {
            "/containers/json": [{"Id": "0123456789abcdef", "Names": ["/web"], "State": "running"}],
            "/containers/0123456789abcdef/json": {"Name": "/web", "State": {"Pid": 4242, "Running": True}},
        },
    )
    rows = discovery.docker(sockets=[sock], state_dir=str(tmp_path / "none"))
    assert rows == [
        {"runtime": "docker", "name": "web", "id": "0123456789ab", "pid": 4242, "source": "engine API on %s" % sock}
    ]


def test_docker_state_dir_when_no_engine_answers(tmp_path):
    d = tmp_path / "containers" / "0123456789abcdef"
    d.mkdir(parents=True)
    (d / "config.v2.json").write_text(
        json.dumps({"ID": "0123456789abcdef", "Name": "/db", "State": {"Running": True, "Pid": 777}})
    )
    stopped = tmp_path / "containers" / "fedcba9876543210"
    stopped.mkdir()
    (stopped / "config.v2.json").write_text(json.dumps({"ID": "fedcba", "Name": "/old", "State": {"Running": False}}))
    rows = discovery.docker(sockets=[str(tmp_path / "absent.sock")], state_dir=str(tmp_path / "containers"))
    assert [(r["name"], r["pid"]) for r in rows] == [("db", 777)]
    assert discovery.docker(sockets=[str(tmp_path / "absent.sock")], state_dir=str(tmp_path / "nope")) is None


def test_podman_ps_and_conmon(tmp_path):
    ps = [{"Id": "aaaabbbbccccdddd", "Names": ["web"], "Pid": 4242, "PodName": "nsv-pod", "IsInfra": False},
          {"Id": "eeee", "Names": ["gone"], "Pid": 0}]  # fmt: skip
    conmon = tmp_path / "proc" / "900"
    conmon.mkdir(parents=True)
    pidfile = tmp_path / "ctr.pid"
    pidfile.write_text("5151\n")
    argv = ["/usr/bin/conmon", "--api-version", "1", "-c", "ffff0000ffff0000", "-u", "ffff0000ffff0000",
            "-r", "/usr/bin/crun", "-n", "rootless-web", "--container-pidfile", str(pidfile), "--exit-dir", "/x"]  # fmt: skip
    (conmon / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    calls = []

    def runner(cmd):
        calls.append(cmd)
        return 0, json.dumps(ps), ""

    rows = discovery.podman(runner, proc=str(tmp_path / "proc"))
    if not discovery.which("podman"):
        assert calls == [] and [r["name"] for r in rows] == ["rootless-web"]
        return
    assert calls == [["podman", "ps", "--pod", "--format", "json"]]
    assert rows[0] == {"runtime": "podman", "name": "web", "id": "aaaabbbbcccc", "pid": 4242, "source": "podman ps",
                       "pod": "nsv-pod", "infra": False}  # fmt: skip
    assert rows[1]["name"] == "rootless-web" and rows[1]["pid"] == 5151 and rows[1]["id"] == "ffff0000ffff"


def test_conmon_arguments():
    args = discovery.parse_conmon_args(["conmon", "--cid", "abc", "--name", "x", "--runtime", "/usr/sbin/runc"])
    assert args == {"id": "abc", "name": "x", "runtime": "/usr/sbin/runc"}


def test_oci_state_dirs_of_crun_and_runc(tmp_path):
    crun = tmp_path / "crun" / "box"
    crun.mkdir(parents=True)
    (crun / "status").write_text(json.dumps({"pid": 6363, "process-start-time": 88272, "bundle": "/b"}))
    runc = tmp_path / "runc" / "0123456789abcdef0123"
    runc.mkdir(parents=True)
    (runc / "state.json").write_text(json.dumps({"id": "0123456789abcdef0123", "init_process_pid": 7070}))
    dirs = (("crun", str(tmp_path / "crun"), "status"), ("runc", str(tmp_path / "runc"), "state.json"))
    rows = discovery.oci_state(dirs)
    assert [(r["runtime"], r["name"], r["pid"]) for r in rows] == [
        ("crun", "box", 6363),
        ("runc", "0123456789abcdef0123", 7070),
    ]
    assert discovery.oci_state((("crun", str(tmp_path / "absent"), "status"),)) is None


def test_nspawn_machines(tmp_path):
    (tmp_path / "web").write_text("# This is private data.\nNAME=web\nSCOPE=machine-web.scope\nSERVICE=systemd-nspawn\n"
                                  "ROOT=/var/lib/machines/web\nCLASS=container\nLEADER=3131\n")  # fmt: skip
    (tmp_path / "unit:machine-web.scope").write_text("web")
    (tmp_path / "vm").write_text("NAME=vm\nCLASS=vm\nLEADER=1\n")
    rows = discovery.nspawn(str(tmp_path))
    assert [(r["name"], r["pid"], r["service"]) for r in rows] == [("web", 3131, "systemd-nspawn")]
    assert discovery.nspawn(str(tmp_path / "absent")) is None


def test_lxc_info():
    assert discovery.parse_lxc_info("State:          RUNNING\nPID:            2468\n") == {
        "state": "RUNNING",
        "pid": 2468,
    }
    assert discovery.parse_lxc_info("State:          STOPPED\n") == {"state": "STOPPED", "pid": None}


def test_kubernetes_socket_without_crictl_is_noted_not_failed(tmp_path, monkeypatch):
    sock = tmp_path / "containerd.sock"
    sock.write_text("")
    monkeypatch.setattr(discovery, "which", lambda name, path=None: None)
    out = discovery.kubernetes(sockets=[str(sock)])
    assert out["rows"] == [] and "crictl is not installed" in out["error"]
    assert discovery.kubernetes(sockets=[str(tmp_path / "absent.sock")]) is None


def test_absent_runtimes_are_absent_and_duplicates_keep_the_first_name(monkeypatch):
    monkeypatch.setattr(discovery, "nsverify", lambda: None)
    monkeypatch.setattr(discovery, "docker", lambda sockets: None)
    monkeypatch.setattr(discovery, "podman", lambda runner, proc: [discovery_row("podman", "web", 10)])
    monkeypatch.setattr(discovery, "kubernetes", lambda runner: None)
    monkeypatch.setattr(discovery, "lxc", lambda runner, paths: None)
    monkeypatch.setattr(discovery, "nspawn", lambda: None)
    monkeypatch.setattr(discovery, "oci_state", lambda dirs: [discovery_row(dirs[0][0], "0123abcd", 10)])
    out = discovery.discover()
    assert [c["name"] for c in out["containers"]] == ["web"]
    assert out["runtimes"] == {"podman": {"count": 1}, "crun": {"count": 0}, "runc": {"count": 0}}


def discovery_row(runtime, name, pid):
    return {"runtime": runtime, "name": name, "id": name, "pid": pid, "source": "test"}


@pytest.mark.parametrize(
    "wanted,found,error",
    [(["web"], ["podman:web"], None), (["podman:web"], ["podman:web"], None), (["0123"], ["docker:db"], None),
     (["nsv-none"], [], "no running container matches 'nsv-none' (found: podman:web, docker:db)")],
    ids=["name", "runtime-name", "id-prefix", "nothing"],
)  # fmt: skip
def test_select(wanted, found, error):
    containers = [discovery_row("podman", "web", 1), dict(discovery_row("docker", "db", 2), id="0123456789ab")]
    chosen, errors = discovery.select(containers, wanted)
    assert [discovery.label(c) for c in chosen] == found
    assert [e["error"] for e in errors] == ([error] if error else [])
    assert all(e["kind"] == "not-found" for e in errors)


def test_run_reports_a_missing_command():
    rc, _, err = discovery.run(["nsv-no-such-command-%d" % os.getpid()])
    assert rc is None and "not installed" in err
