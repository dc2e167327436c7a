"""What every isolation proof shares: targets, check records, the held probe, and verdicts.

A proof compares two sides: "inside" (the namespace under test: a fresh one, or a
named/pid/paths target joined with setns) and "the host" (the process running the
engine). Work inside always happens in a forked child (probe.run); the engine's
own process never changes namespace.
"""

from __future__ import annotations

import binascii
import errno
import fcntl
import os

from ansible.module_utils.nsverify import catalog, controls, kernel, probe, procfs, syscalls, validate

NAMED_ROOT = "/run/nsverify/ns"
TARGET_KINDS = ("fresh", "named", "pid", "paths")
NS_GET_NSTYPE = 0xB703  # ioctl_ns(2), Linux 4.11
NS_GET_USERNS = 0xB701  # ioctl_ns(2), Linux 4.9: an fd of the owning user namespace


class ProofSkip(Exception):
    """The proof cannot run here; carries the audit verdict and the reason."""

    def __init__(self, verdict, reason, evidence=None):
        Exception.__init__(self, reason)
        self.verdict = verdict
        self.reason = reason
        self.evidence = evidence or {}


def token(nbytes=4):
    """A short random hex string for nsv-* names that cannot collide across runs."""
    return binascii.hexlify(os.urandom(nbytes)).decode()


# ---------------------------------------------------------------- check records
def check(control_id, passed, evidence, reason=None):
    """A proof's control record (controls.record): pass or fail, with its evidence."""
    return controls.record(control_id, "pass" if passed else "fail", evidence, reason)


def skip(control_id, reason, evidence=None):
    """A control the proof could not run, with the reason."""
    return controls.record(control_id, "skip", evidence or {}, reason)


def shape_result(type_name, checks, verdict="supported", reason=None):
    """One type's result from its checks: failed if any failed, passed if any passed, else skipped."""
    statuses = [c["status"] for c in checks]
    if "fail" in statuses:
        status = "failed"
        failed = [c["id"] for c in checks if c["status"] == "fail"]
        reason = reason or "check(s) failed: %s" % ", ".join(failed)
    elif "pass" in statuses:
        status = "passed"
        skipped = [c["id"] for c in checks if c["status"] == "skip"]
        reason = reason or ("all checks passed" if not skipped else "passed; skipped: %s" % ", ".join(skipped))
    else:
        status = "skipped"
        reason = reason or "no check could run"
    return {"type": type_name, "status": status, "verdict": verdict, "reason": reason, "checks": checks}


def summarize(results):
    out = {"passed": [], "failed": [], "skipped": []}
    for name, res in results.items():
        out[res["status"]].append(name)
    return out


# ---------------------------------------------------------------- verdicts
def kernel_gate(type_name, release=None, proc="/proc"):
    """(verdict, reason) when the type cannot exist on this kernel, else None.

    The version gate is only a first filter: a new-enough kernel that lacks the
    /proc entry is 'not-built'; the probe's errno decides the rest.
    """
    t = catalog.get(type_name)
    release = release or kernel.running_release()
    try:
        old = not kernel.at_least(release, t.first_kernel)
    except ValueError:
        old = False
    if old:
        return (
            "kernel-too-old",
            "kernel %s is older than %s, the first with %s namespaces"
            % (release, catalog.version_string(t.first_kernel), type_name),
        )
    if not os.path.exists(procfs.ns_path("self", type_name, proc)):
        return (
            "not-built",
            "%s/self/ns/%s does not exist: the kernel was built without %s"
            % (proc, t.proc_entry, t.config_option or "this namespace type"),
        )
    return None


class ProbeFailed(Exception):
    """A probe could not set up its namespaces (open/setns/unshare/id_map/setup stage)."""

    def __init__(self, result, what):
        self.result = result
        msg = "%s: %s failed: %s" % (what, result.get("stage"), result.get("error"))
        Exception.__init__(self, msg)


# ---------------------------------------------------------------- namespace refusals inside a probe
REFUSED_KEY = "nsv_namespace_refused"
SETUP_STAGES = ("open", "setns", "unshare", "id_map")


class NamespaceRefused(Exception):
    """Raised in a probe child when the kernel refuses to create or join a namespace there.

    Some proofs must create their namespace inside the run function (the cgroup proof moves
    into its cgroup first; mnt and net make a second namespace). probe.run would report such
    an errno as stage "run", a crash; this carries the stage, so the refusal reaches the same
    errno -> verdict mapping as one at probe.run's own unshare/setns stage.
    """

    def __init__(self, stage, err, error, flags=0):
        Exception.__init__(self, error)
        self.record = {"stage": stage, "errno": err, "error": error, "flags": flags}

    @classmethod
    def from_record(cls, record):
        """Re-raise in a parent what a nested child reported (its .record, through a pipe)."""
        return cls(record["stage"], record["errno"], record["error"], record.get("flags", 0))


def unshare_or_refuse(flags):
    """unshare(2) in a probe child; a refusal raises NamespaceRefused(stage unshare)."""
    try:
        syscalls.unshare(flags)
    except OSError as exc:
        raise NamespaceRefused("unshare", exc.errno, str(exc), flags)


def setns_or_refuse(path, type_name):
    """setns(2) into the namespace file `path` in a probe child; refusals raise NamespaceRefused."""
    flag = catalog.get(type_name).flag
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise NamespaceRefused("open", exc.errno, "%s: %s" % (path, exc), flag)
    try:
        syscalls.setns(fd, flag)
    except OSError as exc:
        raise NamespaceRefused("setns", exc.errno, str(exc), flag)
    finally:
        os.close(fd)


def await_ready(child, flags, what):
    """The first word of a namespace a probe function spawned itself (probe.spawn with `flags`):
    ready, or its refusal raised as NamespaceRefused (so it keeps its stage, and so its verdict);
    any other failure raises OSError naming `what`."""
    msg = child.recv()
    if msg and "error" in msg:
        if msg.get("stage") in SETUP_STAGES:
            raise NamespaceRefused(msg["stage"], msg.get("errno"), msg["error"], flags)
        raise OSError(errno.EIO, "%s did not start: %s" % (what, msg["error"]))
    if not msg or "ready" not in msg:
        raise OSError(errno.EIO, "%s did not start" % what)
    return msg["ready"]


def refusing(fn):
    """Wrap a probe function so that NamespaceRefused comes back as a value marked REFUSED_KEY
    (probe.run keeps only the errno of OSError, and only as stage "run")."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NamespaceRefused as exc:
            return {REFUSED_KEY: exc.record}

    return wrapper


def run_probe(fn, args=(), **probe_options):
    """probe.run(fn, ...) with namespace refusals inside fn reported like probe.run's own."""
    res = probe.run(refusing(fn), args=args, **probe_options)
    return _annotate(res, probe_options)


def _annotate(res, probe_options):
    """Note what the probe asked for, so that a refusal can be explained (which limit, which type)."""
    if not res.get("ok") or (isinstance(res.get("value"), dict) and REFUSED_KEY in res["value"]):
        res = dict(res)
        res["requested"] = {
            "unshare": probe_options.get("unshare", 0),
            "join": sorted((probe_options.get("join") or {}).keys()),
        }
    return res


def refusal(result):
    """The probe result as a failure record when the probe's setup, or its function, was refused
    a namespace; None when it was not."""
    value = result.get("value")
    if result.get("ok") and isinstance(value, dict) and REFUSED_KEY in value:
        rec = value[REFUSED_KEY]
        out = {
            "ok": False,
            "value": None,
            "stage": rec["stage"],
            "errno": rec["errno"],
            "errname": syscalls.errno_name(rec["errno"]),
            "error": rec["error"],
            "timed_out": False,
            "in_probe_function": True,
        }
        requested = dict(result.get("requested") or {})
        requested["unshare"] = rec.get("flags") or requested.get("unshare", 0)
        out["requested"] = requested
        return out
    if not result.get("ok") and result.get("stage") in SETUP_STAGES:
        return result
    return None


def flag_types(flags):
    """Names of the namespace types whose CLONE_NEW* bits are set in `flags`."""
    return [t for t in catalog.TYPE_NAMES if flags & catalog.get(t).flag]


def read_limits(types, proc="/proc"):
    """{type: user.max_<type>_namespaces or None when the sysctl does not exist (< 4.9; time < 5.7)}."""
    return {t: procfs.read_sysctl(catalog.get(t).limit_sysctl, os.path.join(proc, "sys")) for t in types}


def explain_refusal(result, proc="/proc"):
    """(reason suffix, evidence) naming the namespace types and limits behind a refusal."""
    requested = result.get("requested") or {}
    types = flag_types(requested.get("unshare") or 0)
    types += [t for t in requested.get("join") or [] if t not in types]
    ev = {"types": types}
    note = ""
    if result.get("errno") == errno.ENOSPC and types:
        limits = read_limits(types, proc)
        ev["limits"] = limits
        zero = [t for t in types if limits.get(t) == 0]
        if zero:
            note = "; user.max_%s_namespaces is 0" % "_namespaces, user.max_".join(zero)
        else:
            note = "; a user.max_<type>_namespaces limit is reached (%s)" % ", ".join(
                "%s=%s" % (t, limits[t]) for t in types
            )
    elif types:
        note = "; namespaces asked for: %s" % ", ".join(types)
    return note, ev


def require_ok(result, what, proc="/proc"):
    """Return result['value']; raise ProofSkip for namespace refusals (at the probe's own setup stages
    or raised as NamespaceRefused in the probe function), ProbeFailed otherwise."""
    refused = refusal(result)
    if refused is None and result.get("ok"):
        return result["value"]
    if refused is not None:
        # the catalogue's one errno -> verdict table, shared with the audit and the container
        verdict = catalog.verdict_for_errno(refused.get("errno"), refused.get("stage"))
        if verdict != "unknown":
            note, ev = explain_refusal(refused, proc)
            raise ProofSkip(
                verdict,
                "%s: %s refused with %s (%s)%s"
                % (what, refused["stage"], refused.get("errname"), refused.get("error"), note),
                {"probe": refused, "refused": ev},
            )
        result = refused
    raise ProbeFailed(result, what)


# ---------------------------------------------------------------- targets
def is_namespace_file(path, type_name):
    """(True, '') when `path` is a namespace file of `type_name`, else (False, why)."""
    t = catalog.get(type_name)
    try:
        st = os.stat(path)
    except OSError as exc:
        return False, "%s: %s" % (path, exc.strerror)
    try:
        ref = os.stat(procfs.ns_path("self", type_name))
    except OSError:
        ref = None
    # Every namespace file (a /proc/<pid>/ns link or a bind mount of one) lives on nsfs.
    if ref is not None and st.st_dev != ref.st_dev:
        return False, "%s is not a namespace file (not on nsfs)" % path
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return False, "%s: %s" % (path, exc.strerror)
    try:
        kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
        if kind != t.flag:
            names = [n for n, x in catalog.TYPES.items() if x.flag == kind]
            return False, "%s is a %s namespace, not %s" % (path, names[0] if names else hex(kind), type_name)
    except OSError:
        pass  # kernels before 4.11 have no NS_GET_NSTYPE: nsfs membership must do
    finally:
        os.close(fd)
    return True, ""


class Target:
    """Where the proofs look: fresh throwaway namespaces, or existing namespace files.

    sandboxed: the engine's host side is itself a disposable sandbox (a probe child in
    fresh namespaces), so proofs may change a namespace shared with it; the must-fail
    tests use this. Otherwise a proof never writes the hostname of a UTS namespace
    that is the engine's own.
    """

    def __init__(self, kind="fresh", paths=None, label=None, sandboxed=False):
        if kind not in TARGET_KINDS:
            raise ValueError("target must be one of %s, not %r" % (", ".join(TARGET_KINDS), kind))
        self.kind = kind
        self.paths = dict(paths or {})
        self.label = label or kind
        self.sandboxed = sandboxed

    @property
    def fresh(self):
        return self.kind == "fresh"

    def path(self, type_name):
        return self.paths.get(type_name)

    def inode(self, type_name):
        p = self.path(type_name)
        return os.stat(p).st_ino if p else None

    def shares_engine(self, type_name):
        """True when the target's namespace is the engine process's own."""
        if self.fresh:
            return False
        try:
            return self.inode(type_name) == own_inode(type_name)
        except OSError:
            return False

    def join(self, type_name):
        """{type: path} for probe.run(join=...); empty when fresh or already a member
        (setns(2) into one's own user namespace is EINVAL, and a no-op for the others)."""
        if self.fresh or not self.path(type_name) or self.shares_engine(type_name):
            return {}
        return {type_name: self.path(type_name)}

    def describe(self):
        return {"kind": self.kind, "label": self.label, "paths": dict(self.paths), "sandboxed": self.sandboxed}


def owner_userns_inode(path):
    """Inode of the user namespace that owns the namespace at `path`, or None if unknown."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        ufd = fcntl.ioctl(fd, NS_GET_USERNS)
        try:
            return os.fstat(ufd).st_ino
        finally:
            os.close(ufd)
    except OSError:
        return None
    finally:
        os.close(fd)


def become_root_if_mapped():
    """After joining a user namespace, act as its root when root is mapped there: objects a
    process makes in namespaces owned by it (files, mqueues) need an id mapped in it."""
    with open("/proc/self/uid_map") as fh:
        uid_lines = procfs.parse_id_map(fh.read())
    if any(inside == 0 for inside, _unused, _unused in uid_lines):
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)


def own_inode(type_name):
    return os.stat(procfs.ns_path("self", type_name)).st_ino


def _selfless(path, pid=None):
    """/proc/self/... -> /proc/<engine pid>/... so that a forked child joins the engine's namespace."""
    pid = pid or os.getpid()
    for prefix in ("/proc/self/", "/proc/thread-self/"):
        if path.startswith(prefix):
            return "/proc/%d/%s" % (pid, path[len(prefix) :])
    return path


def make_target(
    kind="fresh", name=None, pid=None, paths=None, types=None, named_root=NAMED_ROOT, proc="/proc", sandboxed=False
):
    """Validate the user's target and return a Target; ValueError says what is wrong and how to fix it."""
    types = catalog.validate_names(types or catalog.TYPE_NAMES)
    if kind == "fresh":
        return Target("fresh", sandboxed=sandboxed)
    if kind == "named":
        if not name:
            raise ValueError("target=named needs name=<a namespace made by the namespace module>")
        validate.name(name, "namespace name")  # one path component, no traversal
        base = os.path.join(named_root, name)
        if not os.path.isdir(base):
            raise ValueError(
                "no named namespace %r: %s does not exist (create it with the namespace module first)" % (name, base)
            )
        found = {}
        for t in types:
            p = os.path.join(base, t)
            if os.path.exists(p):
                ok, why = is_namespace_file(p, t)
                if not ok:
                    raise ValueError("named namespace %r: %s" % (name, why))
                found[t] = p
        if not found:
            raise ValueError(
                "named namespace %r has none of the requested types (%s) under %s" % (name, ", ".join(types), base)
            )
        return Target("named", found, label="named:%s" % name, sandboxed=sandboxed)
    if kind == "pid":
        try:
            pid = int(pid)
        except (TypeError, ValueError):
            raise ValueError("target=pid needs pid=<a running process id>, got %r" % (pid,))
        if pid <= 0 or not os.path.isdir(os.path.join(proc, str(pid))):
            raise ValueError("process %s does not exist (target=pid needs a running process)" % pid)
        found = {}
        for t in types:
            p = procfs.ns_path(pid, t, proc)
            try:
                os.stat(p)
            except OSError as exc:
                raise ValueError("cannot read %s: %s (run as root or pick a process you own)" % (p, exc.strerror))
            found[t] = p
        return Target("pid", found, label="pid:%d" % pid, sandboxed=sandboxed)
    if kind == "paths":
        if not paths:
            raise ValueError("target=paths needs paths={type: namespace file}")
        found = {}
        for t, p in paths.items():
            catalog.get(t)
            if not isinstance(p, str) or not p:
                raise ValueError("paths[%s] must be a file path" % t)
            p = _selfless(p)
            ok, why = is_namespace_file(p, t)
            if not ok:
                raise ValueError("paths[%s]: %s" % (t, why))
            found[t] = p
        return Target("paths", found, label="paths", sandboxed=sandboxed)
    raise ValueError("target must be one of %s, not %r" % (", ".join(TARGET_KINDS), kind))


# ---------------------------------------------------------------- the proof context
class Context:
    """What a proof gets: the target, the options and the probe settings for this privilege."""

    def __init__(self, target, options=None, timeout=probe.DEFAULT_TIMEOUT, euid=None, egid=None):
        self.target = target
        self.options = dict(options or {})
        self.timeout = float(timeout)
        self.euid = os.geteuid() if euid is None else euid
        self.egid = os.getegid() if egid is None else egid
        self.checks = []

    @property
    def rootless(self):
        return self.euid != 0

    def add(self, rec):
        self.checks.append(rec)
        return rec

    def self_map(self):
        """Unprivileged: map root inside to ourselves, the one mapping user_namespaces(7) allows."""
        return [(0, self.euid, 1)], [(0, self.egid, 1)]

    def options_for(self, type_name, extra_unshare=0, fresh_flags=None, as_owner=False):
        """probe.run keyword arguments for a proof of `type_name` on this target.

        Fresh: unshare the type (or `fresh_flags`); without root, inside a new user namespace
        that maps root to the caller. Joined: setns into the target's file; with as_owner, also
        into the target's user namespace when that owns it, acting as its root there.
        """
        opts = {"timeout": self.timeout}
        unshare = extra_unshare
        if self.target.fresh:
            unshare |= catalog.get(type_name).flag if fresh_flags is None else fresh_flags
        else:
            opts["join"] = self.target.join(type_name)
            if as_owner and opts["join"] and self.target.path("user"):
                owner = owner_userns_inode(self.target.path(type_name))
                if owner is not None and owner == self.target.inode("user") and owner != own_inode("user"):
                    opts["join"]["user"] = self.target.path("user")
                    opts["setup"] = become_root_if_mapped
        if self.rootless and self.target.fresh and unshare and not unshare & catalog.CLONE_NEWUSER:
            unshare |= catalog.CLONE_NEWUSER
            opts["uid_map"], opts["gid_map"] = self.self_map()
        opts["unshare"] = unshare
        return opts


# ---------------------------------------------------------------- held probes
def _message_result(msg):
    """A spawned child's first message that was no rendezvous, as a probe.run result."""
    if msg is None:
        return probe.result(False, stage="run", error="probe child exited without a result")
    if "result" in msg:
        return probe.result(True, msg["result"])
    return probe.result(False, stage=msg.get("stage"), err=msg.get("errno"), error=msg.get("error"))


def held(inside_fn, host_fn, args=(), **probe_options):
    """Run inside_fn(rendezvous, *args) in a spawned child; while it waits at rendezvous(data),
    call host_fn(data) here, so that the host looks while the inside still holds its state.

    rendezvous(data) sends `data` (JSON) to the host and blocks until host_fn returned.
    probe_options are probe.spawn's (Context.options_for). Returns (probe result, host_fn's
    value or None when the inside never reached the rendezvous).
    """

    def child(chan, *a):
        def rendezvous(data):
            chan.ready(data)
            chan.recv()  # the host's go (or EOF when it gave up)

        try:
            return inside_fn(rendezvous, *a)
        except NamespaceRefused as exc:
            return {REFUSED_KEY: exc.record}

    host_value = None
    with probe.spawn(child, args=args, **probe_options) as spawned:
        try:
            msg = spawned.recv()
        except probe.SpawnTimeout:
            spawned.kill()
            timeout = probe_options.get("timeout", probe.DEFAULT_TIMEOUT)
            res = probe.result(
                False, stage="timeout", error="probe did not answer within %.1fs" % timeout, timed_out=True
            )
        except probe.SpawnError as exc:
            res = probe.result(False, stage="run", error="probe child sent unreadable result: %s" % exc)
        else:
            if msg is not None and "ready" in msg:
                host_value = host_fn(msg["ready"])
                try:
                    spawned.send({"go": True})
                except OSError:  # the inside is gone already (host_fn may end it: NS-PID-004)
                    pass
                res = probe.outcome(spawned)
            else:
                res = _message_result(msg)
    return _annotate(res, probe_options), host_value


# ---------------------------------------------------------------- /proc parsers shared by proofs
parse_mountinfo = procfs.parse_mountinfo
read_mountinfo = procfs.read_mountinfo


def mounts_with_source(mounts, source):
    return [m["mount_point"] for m in mounts if m["source"] == source]
