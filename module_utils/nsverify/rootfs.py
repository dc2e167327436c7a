"""The BusyBox root filesystem: one directory per busybox version, built once.

The layout is computed as data (directories, files, applet links), compared with
what is on disk, and only the differences are applied, so a second build changes
nothing. The rootfs is the read-only lower layer of every container's overlay.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess

DEFAULT_BASE = "/var/lib/nsverify/rootfs"
DEFAULT_BINARY = "/bin/busybox"
DEFAULT_HOSTNAME = "isolated-box"
BUSYBOX_PATH = "bin/busybox"

# The directories a container needs before anything is mounted on them; tmp is
# world-writable with the sticky bit like on any host, root's home is private.
BASE_DIRS = (
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
    ("etc", 0o755),
    ("tmp", 0o1777),
    ("root", 0o700),
    ("var", 0o755),
    ("run", 0o755),
)

# Applets every container proof relies on: a busybox built without them is refused.
REQUIRED_APPLETS = ("sh", "mount", "umount", "ls", "mkdir", "ps", "ping", "hostname", "ip", "chroot", "cat", "sleep")

_VERSION_RE = re.compile(r"BusyBox v(\d+(?:\.\d+)+)")


class RootfsError(Exception):
    """Bad input or a busybox that cannot make a rootfs; the message says what to do."""


class BinaryError(RootfsError):
    """The busybox binary itself is missing or unusable (not a static ELF, no applet list, applets
    missing): what installing the distribution's static busybox package fixes."""


def parse_version(text):
    """'BusyBox v1.35.0 (Debian 1:1.35.0-4) multi-call binary.' -> '1.35.0'."""
    m = _VERSION_RE.search(text or "")
    if not m:
        raise RootfsError("cannot find a BusyBox version in %r" % (text or "")[:120])
    return m.group(1)


def parse_applet_list(text):
    """Output of `busybox --list-full` -> sorted unique relative paths ('bin/sh', 'usr/bin/awk')."""
    out = set()
    for line in (text or "").splitlines():
        path = line.strip().lstrip("/")
        if not path:
            continue
        parts = path.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise RootfsError("busybox listed an unsafe applet path %r" % line)
        out.add(path)
    out.discard(BUSYBOX_PATH)
    return sorted(out)


def elf_interpreter(data):
    """The PT_INTERP of an ELF image (bytes of its start), None for a static binary.

    A dynamically linked busybox cannot run in a rootfs that has no C library.
    """
    if data[:4] != b"\x7fELF":
        raise RootfsError("not an ELF executable")
    is64 = data[4] == 2
    endian = "<" if data[5] == 1 else ">"
    if is64:
        (phoff,) = struct.unpack_from(endian + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(endian + "HH", data, 0x36)
    else:
        (phoff,) = struct.unpack_from(endian + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(endian + "HH", data, 0x2A)
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 8 > len(data):
            break
        (p_type,) = struct.unpack_from(endian + "I", data, off)
        if p_type == 3:  # PT_INTERP
            if is64:
                (p_offset,) = struct.unpack_from(endian + "Q", data, off + 8)
                (p_filesz,) = struct.unpack_from(endian + "Q", data, off + 32)
            else:
                (p_offset,) = struct.unpack_from(endian + "I", data, off + 4)
                (p_filesz,) = struct.unpack_from(endian + "I", data, off + 16)
            return data[p_offset : p_offset + p_filesz].rstrip(b"\0").decode(errors="replace")
    return None


def check_binary(path):
    """Raise RootfsError unless `path` is an executable, statically linked ELF file."""
    if not os.path.isfile(path):
        raise BinaryError(
            "busybox binary %s does not exist: install busybox-static or give the path of a static busybox" % path
        )
    if not os.access(path, os.X_OK):
        raise BinaryError("busybox binary %s is not executable" % path)
    with open(path, "rb") as fh:
        head = fh.read(65536)
    try:
        interp = elf_interpreter(head)
    except (RootfsError, struct.error) as exc:
        raise BinaryError("busybox binary %s is not a usable ELF executable: %s" % (path, exc))
    if interp:
        raise BinaryError(
            "busybox binary %s is dynamically linked (interpreter %s); the rootfs has no C "
            "library: use a static build (Debian: busybox-static)" % (path, interp)
        )


def query_binary(path):
    """{'version', 'applets'} reported by the busybox at `path`."""
    check_binary(path)
    env = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    head = subprocess.run([path], capture_output=True, text=True, env=env, timeout=30, check=False)
    listing = subprocess.run([path, "--list-full"], capture_output=True, text=True, env=env, timeout=30, check=False)
    if listing.returncode != 0:
        raise BinaryError("%s --list-full failed: %s" % (path, listing.stderr.strip()))
    version = parse_version(head.stdout + head.stderr)
    applets = parse_applet_list(listing.stdout)
    names = {a.rsplit("/", 1)[-1] for a in applets}
    missing = [a for a in REQUIRED_APPLETS if a not in names]
    if missing:
        raise BinaryError("busybox %s lacks applets the container needs: %s" % (path, ", ".join(missing)))
    return {"version": version, "applets": applets}


def etc_files(hostname=DEFAULT_HOSTNAME):
    """{relative path: text} of the minimal /etc."""
    return {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "etc/group": "root:x:0:\nnogroup:x:65534:\n",
        "etc/hostname": "%s\n" % hostname,
        "etc/hosts": "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n" % hostname,
    }


def desired_layout(applets, hostname=DEFAULT_HOSTNAME):
    """The rootfs as data: {'dirs': {rel: mode}, 'files': {rel: (text, mode)}, 'links': {rel: target}}.

    Applet links are relative ('usr/bin/awk' -> '../../bin/busybox') so they resolve
    the same from the host and from inside the container.
    """
    dirs = dict(BASE_DIRS)
    links = {}
    for applet in applets:
        parent = os.path.dirname(applet)
        while parent and parent not in dirs:
            dirs[parent] = 0o755
            parent = os.path.dirname(parent)
        links[applet] = os.path.relpath(BUSYBOX_PATH, os.path.dirname(applet) or ".")
    files = {rel: (text, 0o644) for rel, text in etc_files(hostname).items()}
    return {"dirs": dirs, "files": files, "links": links}


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def plan(root, layout, binary):
    """The actions that turn `root` into `layout` with `binary` as bin/busybox: a list of
    (kind, relative path, detail); empty when the rootfs is already complete."""
    actions = []
    if not os.path.isdir(root):
        actions.append(("mkdir", "", 0o755))
    for rel in sorted(layout["dirs"], key=lambda p: p.count("/")):
        mode = layout["dirs"][rel]
        path = os.path.join(root, rel)
        if os.path.islink(path) or not os.path.isdir(path):
            actions.append(("mkdir", rel, mode))
        elif os.stat(path).st_mode & 0o7777 != mode:
            actions.append(("chmod", rel, mode))
    target = os.path.join(root, BUSYBOX_PATH)
    if not os.path.isfile(target) or os.path.islink(target) or _sha256(target) != _sha256(binary):
        actions.append(("binary", BUSYBOX_PATH, binary))
    elif os.stat(target).st_mode & 0o7777 != 0o755:
        actions.append(("chmod", BUSYBOX_PATH, 0o755))
    for rel, (text, mode) in sorted(layout["files"].items()):
        path = os.path.join(root, rel)
        current = None
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path) as fh:
                current = fh.read()
        if current != text:
            actions.append(("file", rel, (text, mode)))
        elif os.stat(path).st_mode & 0o7777 != mode:
            actions.append(("chmod", rel, mode))
    for rel, dest in sorted(layout["links"].items()):
        path = os.path.join(root, rel)
        if not os.path.islink(path) or os.readlink(path) != dest:
            actions.append(("link", rel, dest))
    return actions


def apply(root, actions):
    """Carry out plan() actions; files are written to a temp name and renamed into place."""
    for kind, rel, detail in actions:
        path = os.path.join(root, rel) if rel else root
        if kind == "mkdir":
            if os.path.islink(path) or (os.path.exists(path) and not os.path.isdir(path)):
                os.unlink(path)
            os.makedirs(path, exist_ok=True)
            os.chmod(path, detail)
        elif kind == "chmod":
            os.chmod(path, detail)
        elif kind == "binary":
            tmp = path + ".nsv-tmp"
            shutil.copyfile(detail, tmp)
            os.chmod(tmp, 0o755)
            os.replace(tmp, path)
        elif kind == "file":
            text, mode = detail
            tmp = path + ".nsv-tmp"
            with open(tmp, "w") as fh:
                fh.write(text)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        elif kind == "link":
            if os.path.lexists(path):
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
            os.symlink(detail, path)


def rootfs_path(version, base=DEFAULT_BASE):
    return os.path.join(base, "busybox-%s" % version)


def build(binary=DEFAULT_BINARY, base=DEFAULT_BASE, hostname=DEFAULT_HOSTNAME, check=False):
    """Make sure the rootfs for `binary` exists under `base`. Returns
    {'path', 'version', 'applets', 'changed', 'actions'}; with check=True nothing is written."""
    info = query_binary(binary)
    root = rootfs_path(info["version"], base)
    layout = desired_layout(info["applets"], hostname)
    actions = plan(root, layout, binary)
    if actions and not check:
        apply(root, actions)
    return {
        "path": root,
        "version": info["version"],
        "applets": len(info["applets"]),
        "changed": bool(actions),
        "actions": ["%s %s" % (kind, rel or ".") for kind, rel, _unused in actions],
    }


def remove(root):
    """Delete a rootfs directory (tests and teardown of images)."""
    if os.path.isdir(root) and not os.path.islink(root):
        shutil.rmtree(root)
        return True
    return False


def looks_like_rootfs(root):
    """True when `root` has an executable bin/busybox and bin/sh (what a container needs)."""
    return (
        os.path.isfile(os.path.join(root, BUSYBOX_PATH))
        and os.access(os.path.join(root, BUSYBOX_PATH), os.X_OK)
        and os.path.lexists(os.path.join(root, "bin/sh"))
    )
