"""Find the running containers of the runtimes on this host: their init PID, name and ID.

Each finder returns None when its runtime is not here (not installed, no state), so an
absent runtime is simply absent from the result, never an error. Sources, in order of
preference (a PID found twice keeps the first, most specific name):
- nsverify's own containers (container.list_names / container.status);
- Docker: the engine API on its unix socket (a raw HTTP GET), or /var/lib/docker/containers;
- Podman: `podman ps --format json`, and every conmon process (rootless podman too);
- Kubernetes: a CRI socket through crictl (CRI is gRPC: without crictl the socket is noted);
- LXC: /var/lib/lxc/<name> and lxc-info; systemd-nspawn: /run/systemd/machines/<name>;
- crun and runc: their state directories (/run/crun/<id>/status, /run/runc/<id>/state.json).
"""

from __future__ import annotations

import glob
import json
import os
import socket
import subprocess

DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
DOCKER_STATE = "/var/lib/docker/containers"
CRI_SOCKETS = ("/run/containerd/containerd.sock", "/run/crio/crio.sock", "/var/run/cri-dockerd.sock")
OCI_STATE = (("crun", "/run/crun", "status"), ("runc", "/run/runc", "state.json"))
OCI_STATE += (("runc", "/run/docker/runtime-runc/moby", "state.json"),)
LXC_PATH = "/var/lib/lxc"
MACHINES = "/run/systemd/machines"
RUNTIMES = ("nsverify", "docker", "podman", "kubernetes", "lxc", "nspawn", "crun", "runc")


def run(argv, timeout=20):
    """(rc, stdout, stderr) of a command with LC_ALL=C; rc None when it is not installed."""
    env = dict(os.environ, LC_ALL="C")
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except FileNotFoundError:
        return None, "", "%s: not installed" % argv[0]
    except subprocess.TimeoutExpired:
        return -1, "", "%s: timed out after %ss" % (argv[0], timeout)
    return p.returncode, p.stdout, p.stderr


def which(name, path=None):
    for d in (path or os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin").split(":"):
        if d and os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


def _read_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _row(runtime, name, cid, pid, source, **extra):
    row = {"runtime": runtime, "name": name, "id": cid, "pid": int(pid) if pid else None, "source": source}
    row.update(extra)
    return row


# ---------------------------------------------------------------- nsverify


def nsverify():
    try:
        from ansible.module_utils.nsverify import container
    except ImportError:
        return None
    names = container.list_names()
    if not names:
        return None
    rows = []
    for name in names:
        st = container.status(name)
        if st.get("running") and (st.get("state") or {}).get("init_pid"):
            # a pod member names its pod (container/pod.py), and the pod is named after its first container
            pod = ((st["state"].get("pod") or {}).get("name")) or None
            rows.append(
                _row("nsverify", name, name, st["state"]["init_pid"], "/run/nsverify/containers/%s" % name, pod=pod)
            )
    pods = {r["pod"] for r in rows if r["pod"]}
    for r in rows:
        if r["name"] in pods:
            r["pod"] = r["name"]
    return rows


# ---------------------------------------------------------------- docker


def parse_http_response(raw):
    """(status code, body bytes) of an HTTP/1.x response; a chunked body is joined."""
    head, _unused, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    code = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _unused, v in (line.partition(b":") for line in lines[1:])}
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        out, rest = b"", body
        while rest:
            size_line, _unused, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2 :]
        body = out
    return code, body


def unix_http_get(sock_path, path, timeout=5.0):
    """GET `path` over a unix socket (HTTP/1.0: the server closes when done); JSON of a 200 reply."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % path).encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        s.close()
    code, body = parse_http_response(b"".join(chunks))
    if code != 200:
        raise OSError("GET %s on %s: HTTP %d" % (path, sock_path, code))
    return json.loads(body.decode())


def docker(sockets=DOCKER_SOCKETS, state_dir=DOCKER_STATE):
    error = None
    for sock in sockets:
        if not os.path.exists(sock):
            continue
        try:
            rows = []
            for c in unix_http_get(sock, "/containers/json"):
                detail = unix_http_get(sock, "/containers/%s/json" % c["Id"])
                name = (detail.get("Name") or c["Names"][0]).lstrip("/")
                rows.append(_row("docker", name, c["Id"][:12], detail["State"]["Pid"], "engine API on %s" % sock))
            return rows
        except (OSError, ValueError, KeyError) as exc:
            error = "engine API on %s: %s" % (sock, exc)
    rows = []
    for path in sorted(glob.glob(os.path.join(state_dir, "*", "config.v2.json"))):
        cfg = _read_json(path) or {}
        state = cfg.get("State") or {}
        if state.get("Running") and state.get("Pid"):
            rows.append(_row("docker", cfg.get("Name", "").lstrip("/"), cfg.get("ID", "")[:12], state["Pid"], path))
    if not rows and error is None and not os.path.isdir(state_dir):
        return None
    return rows if error is None else {"rows": rows, "error": error}


# ---------------------------------------------------------------- podman


def parse_conmon_args(argv):
    """conmon's argv -> {'name', 'id', 'runtime', 'pidfile'}.

    Options read: -n/--name, -c/--cid, -r/--runtime, --container-pidfile."""
    keys = {"-n": "name", "--name": "name", "-c": "id", "--cid": "id", "-r": "runtime", "--runtime": "runtime"}
    keys.update({"--container-pidfile": "pidfile"})
    out = {}
    for i, arg in enumerate(argv[:-1]):
        if arg in keys:
            out.setdefault(keys[arg], argv[i + 1])
    return out


def conmon_containers(proc="/proc"):
    """Containers supervised by conmon processes (root and rootless podman, CRI-O)."""
    rows = []
    for e in sorted(os.listdir(proc)):
        if not e.isdigit():
            continue
        try:
            with open(os.path.join(proc, e, "cmdline"), "rb") as fh:
                argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
            owner = os.stat(os.path.join(proc, e)).st_uid
        except OSError:
            continue
        if not argv or os.path.basename(argv[0]) != "conmon":
            continue
        args = parse_conmon_args(argv)
        try:
            with open(args.get("pidfile", "")) as fh:
                pid = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        rows.append(
            _row("podman", args.get("name"), (args.get("id") or "")[:12], pid, "conmon %s" % e, rootless=owner != 0)
        )
    return rows


def podman(runner=run, proc="/proc"):
    rows = []
    if which("podman"):
        # --pod fills PodName (empty without it in podman 4)
        rc, out, err = runner(["podman", "ps", "--pod", "--format", "json"])
        if rc == 0:
            for c in json.loads(out or "[]"):
                if c.get("Pid"):
                    names = c.get("Names") or [c.get("Id", "")[:12]]
                    pod = c.get("PodName") or None
                    infra = bool(c.get("IsInfra"))
                    rows.append(
                        _row("podman", names[0], c.get("Id", "")[:12], c["Pid"], "podman ps", pod=pod, infra=infra)
                    )
    seen = {r["pid"] for r in rows}
    rows += [r for r in conmon_containers(proc) if r["pid"] not in seen]
    if not rows and not which("podman"):
        return None
    return rows


# ---------------------------------------------------------------- crun, runc, lxc, nspawn, kubernetes


def oci_state(dirs=OCI_STATE):
    rows, present = [], False
    for runtime, root, fname in dirs:
        if not os.path.isdir(root):
            continue
        present = True
        for path in sorted(glob.glob(os.path.join(root, "*", fname))):
            st = _read_json(path) or {}
            pid = st.get("pid") or st.get("init_process_pid")
            cid = st.get("id") or os.path.basename(os.path.dirname(path))
            if pid:
                rows.append(_row(runtime, cid, cid[:12], pid, path))
    return rows if present else None


def parse_key_values(text):
    """KEY=value lines (systemd's machine state, lxc-info -H style 'Key: value' is separate)."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and not line.startswith("#"):
            out[k.strip()] = v.strip()
    return out


def nspawn(machines=MACHINES):
    if not os.path.isdir(machines):
        return None
    rows = []
    for path in sorted(glob.glob(os.path.join(machines, "*"))):
        if os.path.basename(path).startswith("unit:"):
            continue
        try:
            with open(path) as fh:
                kv = parse_key_values(fh.read())
        except OSError:
            continue
        if kv.get("LEADER") and kv.get("CLASS", "container") == "container":
            name = kv.get("NAME") or os.path.basename(path)
            rows.append(_row("nspawn", name, name, kv["LEADER"], path, service=kv.get("SERVICE")))
    return rows


def parse_lxc_info(text):
    """lxc-info output ('State:  RUNNING', 'PID:  1234') -> {'state', 'pid'}."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip().lower()] = v.strip()
    return {"state": out.get("state"), "pid": int(out["pid"]) if out.get("pid", "").isdigit() else None}


def lxc(runner=run, lxc_paths=(LXC_PATH,)):
    paths = [p for p in lxc_paths if os.path.isdir(p)]
    if not paths or not which("lxc-info"):
        return None
    rows = []
    for lxc_path in paths:
        for name in sorted(os.listdir(lxc_path)):
            if not os.path.isfile(os.path.join(lxc_path, name, "config")):
                continue
            rc, out, _unused = runner(["lxc-info", "-P", lxc_path, "-n", name, "-s", "-p"])
            info = parse_lxc_info(out) if rc == 0 else {}
            if info.get("state") == "RUNNING" and info.get("pid"):
                rows.append(_row("lxc", name, name, info["pid"], "lxc-info -P %s" % lxc_path))
    return rows


def kubernetes(runner=run, sockets=CRI_SOCKETS):
    found = [s for s in sockets if os.path.exists(s)]
    if not found:
        return None
    if not which("crictl"):
        return {"rows": [], "error": "CRI socket %s present but crictl is not installed (CRI is gRPC)" % found[0]}
    rows = []
    for sock in found:
        rc, out, err = runner(["crictl", "--runtime-endpoint", "unix://" + sock, "ps", "-o", "json"])
        if rc != 0:
            return {"rows": rows, "error": "crictl ps on %s: %s" % (sock, err.strip())}
        for c in json.loads(out or "{}").get("containers", []):
            rc, detail, _unused = runner(
                ["crictl", "--runtime-endpoint", "unix://" + sock, "inspect", "-o", "json", c["id"]]
            )
            pid = (json.loads(detail).get("info") or {}).get("pid") if rc == 0 else None
            labels = c.get("labels") or {}
            name = "%s/%s" % (labels.get("io.kubernetes.pod.name", "?"), (c.get("metadata") or {}).get("name"))
            rows.append(
                _row("kubernetes", name, c["id"][:12], pid, "CRI " + sock, pod=labels.get("io.kubernetes.pod.name"))
            )
    return rows


def discover(runtimes=RUNTIMES, runner=run, proc="/proc", docker_sockets=DOCKER_SOCKETS, lxc_paths=(LXC_PATH,)):
    """{'containers': [...], 'runtimes': {runtime: {'count', 'error'?}}} of the runtimes present here."""
    finders = {
        "nsverify": nsverify,
        "docker": lambda: docker(docker_sockets),
        "podman": lambda: podman(runner, proc),
        "kubernetes": lambda: kubernetes(runner),
        "lxc": lambda: lxc(runner, lxc_paths),
        "nspawn": nspawn,
        "crun": lambda: oci_state(OCI_STATE[:1]),
        "runc": lambda: oci_state(OCI_STATE[1:]),
    }
    containers, summary, seen = [], {}, set()
    for runtime in [r for r in RUNTIMES if r in runtimes]:
        result = finders[runtime]()
        if result is None:
            continue
        rows, error = (result["rows"], result["error"]) if isinstance(result, dict) else (result, None)
        summary[runtime] = {"count": 0}
        if error:
            summary[runtime]["error"] = error
        for r in rows:
            if r["pid"] and r["pid"] not in seen:
                seen.add(r["pid"])
                containers.append(r)
                summary[runtime]["count"] += 1
    return {"containers": containers, "runtimes": summary}


def label(container):
    return "%s:%s" % (container["runtime"], container["name"])


def select(containers, wanted):
    """The discovered containers named in `wanted` (name, runtime:name, or an ID prefix of 4+ characters).

    Returns (selected, errors); a name that matches nothing is an error entry naming what exists.
    """
    selected, errors = [], []
    for w in wanted:
        hits = [
            c
            for c in containers
            if w in (c["name"], label(c)) or (len(w) >= 4 and c.get("id") and str(c["id"]).startswith(w))
        ]
        if not hits:
            known = ", ".join(label(c) for c in containers) or "none"
            errors.append(
                {
                    "name": w,
                    "pid": None,
                    "kind": "not-found",
                    "error": "no running container matches %r (found: %s)" % (w, known),
                }
            )
        selected += [c for c in hits if c not in selected]
    return selected, errors
