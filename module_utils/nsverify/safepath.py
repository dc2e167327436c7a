"""Write files inside a root directory (a container's rootfs) without ever following a link out of it.

A container's upper layer is the workload's to change: it may replace /etc with a symlink to a host directory,
or /etc/hostname with one to a host file. A naive open(merged + "/etc/hostname", "w") by the host's root then
writes the host's file (issue 10, escape 4). Here every path is resolved as the container would see it, with the
root as "/": an absolute link restarts at the root, ".." stops at it (openat2(2) RESOLVE_IN_ROOT semantics,
what runc's filepath-securejoin and crun's safe_openat do), and the last component is never followed: a link
there is replaced by a regular file.

Two resolvers with the same semantics: openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) where the kernel has
it (5.6+), else a walk of one component at a time with O_PATH | O_NOFOLLOW and readlinkat, by descriptor.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import stat

from ansible.module_utils.nsverify import syscalls

# <linux/openat2.h>
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
OPENAT2_NR = 437  # the same on every architecture (5.6+)
MAXSYMLINKS = 40  # the kernel's limit before ELOOP (path_resolution(7))
METHODS = ("openat2", "walk")
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class UnsafePath(OSError):
    pass


class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd, path, flags, resolve, mode=0, libc=None):
    """openat2(2): raises OSError(errno) -- ENOSYS before 5.6, EAGAIN on a concurrent rename (retry)."""
    lib = libc or syscalls.libc()
    lib.syscall.restype = ctypes.c_long
    how = OpenHow(flags, mode, resolve)
    raw = path.encode() if isinstance(path, str) else path
    res = lib.syscall(
        ctypes.c_long(OPENAT2_NR), ctypes.c_int(dirfd), raw, ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how))
    )
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, "openat2(%r): %s" % (path, os.strerror(err)))
    return res


def check_root(root, base=None, what="root"):
    """The real path of `root`, refused when it is the host's / (or a link to it: EPERM) or resolves outside
    `base` (EXDEV, as openat2's RESOLVE_BENEATH answers an escape)."""
    if not root or "\0" in root:
        raise UnsafePath(_errno.EINVAL, "%s %r is not a path" % (what, root))
    real = os.path.realpath(root)
    if real == "/":
        raise UnsafePath(
            _errno.EPERM,
            "%s %s resolves to the host's /: a container there would run on the host's own files" % (what, root),
        )
    if base is not None:
        real_base = os.path.realpath(base)
        if real != real_base and not real.startswith(real_base.rstrip("/") + "/"):
            raise UnsafePath(_errno.EXDEV, "%s %s resolves to %s, outside %s" % (what, root, real, real_base))
    return real


def split_relative(rel):
    """The components of a path inside the root; an absolute path counts from the root, '..' is refused (the
    caller's own paths never need it, and refusing it keeps a caller's typo from meaning something)."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or "\0" in rel:
        raise UnsafePath(_errno.EINVAL, "path %r must name a file inside the root, without '..'" % (rel,))
    return parts


def _open_dir_openat2(root_fd, parts):
    if not parts:
        return os.dup(root_fd)
    for _unused in range(8):
        try:
            return openat2(root_fd, "/".join(parts), _DIR_FLAGS, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        except OSError as exc:
            if exc.errno != _errno.EAGAIN:
                raise
    raise OSError(_errno.EAGAIN, "openat2(%r): the tree kept changing" % "/".join(parts))


def _open_dir_walk(root_fd, parts, directory=True):
    """RESOLVE_IN_ROOT by hand: every component opened O_PATH | O_NOFOLLOW relative to the directory before it;
    a link is read and its target walked from the root (absolute) or from here (relative); '..' pops, never
    past the root. The kernel never follows anything, so a magic link (/proc/self/root) is only text.
    directory=False: the last component may be any file (a link there is followed too, inside the root)."""
    stack = [os.dup(root_fd)]
    todo = list(parts)
    links = 0
    try:
        while todo:
            comp = todo.pop(0)
            if comp in ("", "."):
                continue
            if comp == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            fd = os.open(comp, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                os.close(fd)
                links += 1
                if links > MAXSYMLINKS:
                    raise OSError(_errno.ELOOP, "too many levels of symbolic links at %r" % comp)
                target = os.readlink(comp, dir_fd=stack[-1])
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                todo = target.split("/") + todo
                continue
            if not stat.S_ISDIR(mode) and (directory or any(c not in ("", ".") for c in todo)):
                os.close(fd)
                raise OSError(_errno.ENOTDIR, "%r is not a directory" % comp)
            stack.append(fd)
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


def default_method():
    """'openat2' where the kernel answers it, else 'walk' (kernels before 5.6, or a seccomp filter that refuses
    the call with EPERM, as older container profiles did for calls they did not know)."""
    try:
        os.close(openat2(-100, "/", _DIR_FLAGS, RESOLVE_IN_ROOT))  # AT_FDCWD
        return "openat2"
    except OSError as exc:
        if exc.errno in (_errno.ENOSYS, _errno.EPERM):
            return "walk"
        raise


def open_dir(root_fd, parts, method=None):
    """An O_PATH descriptor of the directory `parts` below `root_fd`, resolved inside the root."""
    method = method or default_method()
    if method not in METHODS:
        raise ValueError("method %r must be one of %s" % (method, ", ".join(METHODS)))
    return (_open_dir_openat2 if method == "openat2" else _open_dir_walk)(root_fd, parts)


def open_path(root_fd, parts, method=None):
    """An O_PATH descriptor of the file `parts` below `root_fd`, every link on the way and at the end resolved
    inside the root: what the container's own lookup of that path reaches."""
    method = method or default_method()
    if method == "walk":
        return _open_dir_walk(root_fd, parts, directory=False)
    if not parts:
        return os.dup(root_fd)
    return openat2(root_fd, "/".join(parts), os.O_PATH | os.O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)


def check_executable(root, path, method=None):
    """Refuse (UnsafePath naming `path`) a program the container could not execute: absent inside `root`, not a
    regular file, or without an execute bit. Resolved as the container resolves it, links inside the root."""
    real_root = check_root(root)
    root_fd = os.open(real_root, _DIR_FLAGS)
    try:
        try:
            fd = open_path(root_fd, split_relative(path), method)
        except OSError as exc:
            why = "not found" if exc.errno == _errno.ENOENT else os.strerror(exc.errno)
            raise UnsafePath(exc.errno, "%s: %s in the container's root (%s)" % (path, why, real_root))
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)
    if not stat.S_ISREG(mode):
        raise UnsafePath(_errno.EACCES, "%s is not a regular file in the container's root (%s)" % (path, real_root))
    if not mode & 0o111:
        raise UnsafePath(
            _errno.EACCES, "%s is not executable (mode %04o) in the container's root" % (path, stat.S_IMODE(mode))
        )


def open_mount_point(root, rel, mode=0o755, method=None):
    """An O_PATH descriptor of the directory `rel` inside `root`, to mount on through /proc/self/fd/N. Its
    parents resolve inside the root; the last component is made (with `mode`) when absent, and refused
    (UnsafePath naming it) when it is a link or not a directory: mount(2) follows a link in its target, so a
    link planted at /proc would carry the proc mount wherever it points."""
    real_root = check_root(root)
    parts = split_relative(rel)
    root_fd = os.open(real_root, _DIR_FLAGS)
    try:
        dir_fd = open_dir(root_fd, parts[:-1], method)
    finally:
        os.close(root_fd)
    try:
        try:
            os.mkdir(parts[-1], mode, dir_fd=dir_fd)
            os.chmod(parts[-1], mode, dir_fd=dir_fd, follow_symlinks=False)  # the umask narrowed mkdir's mode
        except FileExistsError:
            pass
        fd = os.open(parts[-1], os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            return fd
        os.close(fd)
        if stat.S_ISLNK(st.st_mode):
            what = "a symbolic link (-> %s)" % os.readlink(parts[-1], dir_fd=dir_fd)
        else:
            what = "not a directory"
        raise UnsafePath(
            _errno.ENOTDIR, "/%s in the container's root is %s: a mount point must be a directory" % (rel, what)
        )
    finally:
        os.close(dir_fd)


def _read_regular(dir_fd, name):
    """The content of `name` in dir_fd when it is a regular file; None when it is absent, a link or special."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (_errno.ENOENT, _errno.ELOOP, _errno.ENXIO):
            return None, None
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UnsafePath(_errno.EISDIR, "%s is a directory" % name)
        if not stat.S_ISREG(st.st_mode):
            return None, st
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks), st
            chunks.append(chunk)
    finally:
        os.close(fd)


def _replace(dir_fd, name, data, mode):
    """Write a new regular file and rename it over `name`: rename(2) replaces a link, never follows it."""
    tmp = ".%s.nsv-%d" % (name, os.getpid())
    try:
        os.unlink(tmp, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)  # the umask narrowed O_CREAT's mode
    finally:
        os.close(fd)
    try:
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        os.unlink(tmp, dir_fd=dir_fd)
        raise


def links_on_the_way(real_root, parts):
    """' (etc -> /srv/x: links resolve inside the root)' for the error message, '' when none (lstat only)."""
    seen = []
    for i in range(len(parts)):
        rel = "/".join(parts[: i + 1])
        try:
            seen.append("%s -> %s" % (rel, os.readlink(os.path.join(real_root, rel))))
            break  # past a link the host's path means nothing
        except OSError:
            continue
    return " (%s: links resolve inside the root)" % seen[0] if seen else ""


def write_file(root, rel, data, mode=0o644, base=None, method=None):
    """Make `rel` inside `root` a regular file holding `data` (str or bytes) with `mode`; True when it changed.
    Links in the directories of `rel` resolve inside the root; a link as the last component is replaced.
    Raises UnsafePath for a root that is / or outside `base`, OSError (with the path) when the directory does
    not exist inside the root."""
    raw = data.encode() if isinstance(data, str) else data
    real_root = check_root(root, base)
    parts = split_relative(rel)
    root_fd = os.open(real_root, _DIR_FLAGS)
    try:
        try:
            dir_fd = open_dir(root_fd, parts[:-1], method)
        except OSError as exc:
            raise OSError(
                exc.errno,
                "cannot write %s inside %s: %s%s"
                % (rel, real_root, os.strerror(exc.errno), links_on_the_way(real_root, parts[:-1])),
            )
        try:
            current, st = _read_regular(dir_fd, parts[-1])
            if current == raw and stat.S_IMODE(st.st_mode) == mode:
                return False
            _replace(dir_fd, parts[-1], raw, mode)
            return True
        finally:
            os.close(dir_fd)
    finally:
        os.close(root_fd)
