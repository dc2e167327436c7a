#!/usr/bin/env python3
"""Throwaway QEMU (TCG) test hosts on real Debian kernels for molecule's delegated driver.

    nsv_vm.py prepare --platforms JSON            fetch kernels, build initrds and the image (cached)
    nsv_vm.py create  --platforms JSON --state-dir DIR --key FILE
                                                  boot every platform, wait for SSH, print instance_conf JSON
    nsv_vm.py destroy --state-dir DIR             stop exactly the VMs started there (pidfiles) and remove DIR

A platform is a molecule platform dict with these keys of ours:
    nsv_kernel   {"match": regex over Debian package names, "pick": "newest"|"oldest"}
                 or {"package": exact name}; resolved with apt-cache on every run; with "suite": S
                 (e.g. bullseye) from a private apt state of that suite under the cache (this machine's
                 apt configuration is never changed)
    nsv_kind     "qemu" (default: a QEMU/TCG guest) or "uml": user-mode Linux (nsv_kernel names
                 Debian's user-mode-linux package), a host process in a network namespace of its own
                 (NETNS_PREFIX + name) reaching the controller through a tap device there and a
                 loopback port forwarder (see uml_start)
    nsv_cmdline  extra kernel command line (e.g. sysctl.user.max_time_namespaces=0)
    nsv_cgroup   "v1": the guest's init mounts the cgroup v1 hierarchies and no cgroup2 (default v2)
    nsv_memory   MiB of guest memory (default 1024)

With --project DIR, a read-only ext4 disk holding a copy of the project (its .venv included) is attached to
every guest as /dev/vdb and mounted at the same path, so the test suite runs inside each guest exactly as on
this machine (the guests are Debian 12 with the same Python 3.11 as the controller's venv).

Cache: ${NSVERIFY_CACHE:-/var/cache/nsverify}/molecule/{kernels,images}/<name>-<recipe hash>. An entry is
built in a temporary directory beside it and renamed into place, so a half-built entry is never used, and a
change to its recipe (package version, packages, scripts, this file's BUILD_EPOCH) gives a new name.
Everything per run (qcow2 overlays, pidfiles, console logs) lives in --state-dir; the base image never changes.
debootstrap fetches from $NSV_DEBIAN_MIRROR, else from the mirror this machine's apt sources give for SUITE
(debian_mirror); the kernels come through apt-get download, so from whatever apt is configured with.
Stdlib only; runs on the controller as root (debootstrap, mknod in the initrd tree).
"""

import argparse
import contextlib
import ctypes
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Bump when the build steps below change in a way the hashed inputs do not show.
BUILD_EPOCH = "2"

SUITE = "bookworm"
APT_DIR = "/etc/apt"
# What the roles, the audit, the proofs and testinfra need inside a guest.
IMAGE_PACKAGES = (
    "python3",
    "python3-apt",
    "openssh-server",
    "busybox-static",
    "iproute2",
    "util-linux",
    "procps",
    "psmisc",
    "kmod",
    "iputils-ping",
    "bubblewrap",
)
IMAGE_SIZE = "2G"
# Loaded in the initrd: the disk and the network first, then what the container needs
# (overlayfs, veth) and a bridge for setups that join veths; dependencies are resolved
# from each .ko's modinfo.
MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "virtio_rng", "overlay", "veth", "bridge")

# Cache entries unused for this many days are removed when a run builds something new.
CACHE_KEEP_DAYS = 14
BOOT_TIMEOUT = int(os.environ.get("NSV_MOLECULE_BOOT_TIMEOUT", "300"))
# Guests booted at once: TCG guests on 2 cores starve each other while booting, so the matrix boots in
# waves of this many (each wave waits for SSH before the next starts).
BOOT_WAVE = int(os.environ.get("NSV_MOLECULE_BOOT_WAVE", "4"))
# A private apt state per extra suite is refreshed when older than this.
APT_LISTS_MAX_AGE = 86400


def log(msg):
    sys.stderr.write("nsv_vm: %s\n" % msg)
    sys.stderr.flush()


def run(cmd, **kw):
    kw.setdefault("check", True)
    env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(cmd, env=env, **kw)


def cache_root():
    return os.path.join(os.environ.get("NSVERIFY_CACHE", "/var/cache/nsverify"), "molecule")


def digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def file_bytes(path):
    with open(path, "rb") as fh:
        return fh.read()


@contextlib.contextmanager
def locked(path):
    """Serialise builders of one cache entry (two molecule runs at once build it once)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def umount_below(path):
    """Unmount anything left mounted under a build tree (a failed debootstrap leaves /proc)."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as fh:
        points = [line.split()[4] for line in fh]
    for point in sorted(points, key=len, reverse=True):
        point = point.encode().decode("unicode_escape")
        if point == path or point.startswith(path + "/"):
            run(["umount", "-l", point], check=False)


def remove_tree(path):
    if os.path.lexists(path):
        umount_below(path)
        shutil.rmtree(path)


def prune(directory):
    """Remove cache entries (and leftovers of interrupted builds) not used for CACHE_KEEP_DAYS.

    Each use touches its entry; only entries whose lock nobody holds are removed."""
    cutoff = time.time() - CACHE_KEEP_DAYS * 86400
    for path in glob.glob(os.path.join(directory, "*")):
        if path.endswith(".lock") or os.path.getmtime(path) > cutoff:
            continue
        lock = path + ".lock"
        with open(lock, "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue
            log("removing cache entry unused for %d days: %s" % (CACHE_KEEP_DAYS, path))
            if os.path.isdir(path):
                remove_tree(path)
            else:
                os.unlink(path)
        os.unlink(lock)


# ---------------------------------------------------------------- mirror


def parse_deb822_sources(text):
    """The deb822 stanzas of a .sources file (sources.list(5)) as [{field (lower case): value}].

    Stanzas are separated by blank lines, `#` lines are comments (also inside a stanza), and a line
    starting with white space continues the field above it."""
    stanzas, current, field = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, field = {}, None
        elif line.lstrip().startswith("#"):
            continue
        elif line[0] in " \t" and field:
            current[field] += " " + line.strip()
        elif ":" in line:
            field, value = line.split(":", 1)
            field = field.strip().lower()
            current[field] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def parse_one_line_sources(text):
    """The entries of a one-line sources.list as [(type, uri, suite)]; `[options]` are skipped."""
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest.startswith("["):
            rest = rest.partition("]")[2]
        words = rest.split()
        if len(words) >= 2:
            entries.append((kind, words[0], words[1]))
    return entries


def _debootstrap_can_use(uri):
    # debootstrap speaks http(s) and file only: no mirror+file:, tor+http:, cdrom:
    return uri.split(":", 1)[0] in ("http", "https", "file")


def mirror_from_sources(suite, files):
    """The first binary (`deb`) source URI that carries `suite`, over [(file name, text)] in apt's order."""
    for name, text in files:
        if name.endswith(".sources"):
            for stanza in parse_deb822_sources(text):
                if stanza.get("enabled", "yes").lower() == "no" or "deb" not in stanza.get("types", "").split():
                    continue
                if suite in stanza.get("suites", "").split():
                    uris = [u for u in stanza.get("uris", "").split() if _debootstrap_can_use(u)]
                    if uris:
                        return uris[0].rstrip("/")
        else:
            for kind, uri, entry_suite in parse_one_line_sources(text):
                if kind == "deb" and entry_suite == suite and _debootstrap_can_use(uri):
                    return uri.rstrip("/")
    return None


def apt_source_files(apt_dir=APT_DIR):
    """[(file name, text)] of the machine's apt sources in the order apt reads them."""
    paths = [os.path.join(apt_dir, "sources.list")]
    paths += sorted(
        glob.glob(os.path.join(apt_dir, "sources.list.d", "*.list"))
        + glob.glob(os.path.join(apt_dir, "sources.list.d", "*.sources")),
        key=os.path.basename,
    )
    files = []
    for path in paths:
        try:
            with open(path, errors="replace") as fh:
                files.append((os.path.basename(path), fh.read()))
        except OSError:
            continue
    return files


def debian_mirror(suite=SUITE, apt_dir=APT_DIR, environ=None):
    """The mirror debootstrap uses: $NSV_DEBIAN_MIRROR, else this machine's own apt source for `suite`."""
    environ = os.environ if environ is None else environ
    if environ.get("NSV_DEBIAN_MIRROR"):
        return environ["NSV_DEBIAN_MIRROR"].rstrip("/")
    mirror = mirror_from_sources(suite, apt_source_files(apt_dir))
    if mirror is None:
        raise SystemExit(
            "no Debian mirror for %s: no 'deb' source in %s/sources.list or %s/sources.list.d/*.{list,sources} "
            "lists the suite %s with an http, https or file URI; set NSV_DEBIAN_MIRROR to a Debian mirror "
            "(the URI of a sources.list line) and run again" % (suite, apt_dir, apt_dir, suite)
        )
    return mirror


# ---------------------------------------------------------------- apt (other suites)

SUITE_SECURITY = SUITE + "-security"


def suite_sources(suite, mirror, security):
    """sources.list lines of a suite: the suite, its -updates and its -security (Debian's layout)."""
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    return "".join(
        "deb [signed-by=%s] %s %s main\n" % (keyring, uri, name)
        for uri, name in ((mirror, suite), (mirror, suite + "-updates"), (security, suite + "-security"))
    )


def apt_options(suite=None):
    """apt-get/apt-cache options: none for this machine's own suite; for another suite a private
    sources list and lists directory under the cache (refreshed with apt-get update when stale)."""
    if not suite or suite == SUITE:
        return []
    mirror = debian_mirror()
    security = os.environ.get("NSV_DEBIAN_SECURITY_MIRROR") or mirror_from_sources(SUITE_SECURITY, apt_source_files())
    if not security:
        security = re.sub(r"/debian$", "/debian-security", mirror)
    sources = suite_sources(suite, mirror, security.rstrip("/"))
    state = os.path.join(cache_root(), "apt", "%s-%s" % (suite, digest(sources)))
    opts = [
        "-o", "Dir::Etc::SourceList=" + os.path.join(state, "sources.list"),
        "-o", "Dir::Etc::SourceParts=" + os.path.join(state, "sources.list.d"),
        "-o", "Dir::State::Lists=" + os.path.join(state, "lists"),
        "-o", "Dir::Cache=" + os.path.join(state, "cache"),
        "-o", "APT::Sandbox::User=root",
    ]  # fmt: skip
    stamp = os.path.join(state, "updated")
    with locked(state + ".lock"):
        fresh = os.path.exists(stamp) and time.time() - os.path.getmtime(stamp) < APT_LISTS_MAX_AGE
        if not fresh:
            for d in ("sources.list.d", "lists/partial", "cache/archives/partial"):
                os.makedirs(os.path.join(state, d), exist_ok=True)
            with open(os.path.join(state, "sources.list"), "w") as fh:
                fh.write(sources)
            started = time.time()
            run(["apt-get", "update", "-qq"] + opts, stdout=subprocess.DEVNULL)
            with open(stamp, "w") as fh:
                fh.write(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
            log("apt lists of %s refreshed in %.0f s (%s)" % (suite, time.time() - started, state))
        else:
            os.utime(state)
    return opts


# ---------------------------------------------------------------- kernels


def _version_key(name):
    return [int(n) for n in re.findall(r"\d+", name)]


def resolve_kernel(spec):
    """(package, version) for a platform's nsv_kernel spec, from the local (or the suite's) apt lists."""
    opts = apt_options(spec.get("suite"))
    if "package" in spec:
        package = spec["package"]
    else:
        names = run(["apt-cache"] + opts + ["pkgnames", "linux-image-"], capture_output=True, text=True).stdout.split()
        pattern = re.compile(spec["match"])
        names = sorted((n for n in names if pattern.search(n)), key=_version_key)
        if not names:
            raise SystemExit(
                "no Debian package matches %r: run 'apt-get update' or fix nsv_kernel in molecule.yml" % spec["match"]
            )
        package = names[0] if spec.get("pick") == "oldest" else names[-1]
    show = run(
        ["apt-cache"] + opts + ["show", "--no-all-versions", package], capture_output=True, text=True, check=False
    )
    m = re.search(r"^Version: (\S+)$", show.stdout, re.M)
    if show.returncode or not m:
        raise SystemExit("apt-cache knows no package %s: run 'apt-get update'" % package)
    return package, m.group(1)


def kernel_spec_suite(spec):
    return spec.get("suite") or SUITE


def _find_module(tree, release, name):
    base = os.path.join(tree, "lib/modules", release, "kernel")
    for ext in (".ko", ".ko.xz", ".ko.zst", ".ko.gz"):
        hits = glob.glob(os.path.join(base, "**", name + ext), recursive=True)
        hits += glob.glob(os.path.join(base, "**", name.replace("_", "-") + ext), recursive=True)
        if hits:
            return hits[0]
    return None


def _decompress(src, dest):
    if src.endswith(".xz"):
        cmd = ["xz", "-dc", src]
    elif src.endswith(".zst"):
        cmd = ["zstd", "-dcq", src]
    elif src.endswith(".gz"):
        cmd = ["gzip", "-dc", src]
    else:
        shutil.copyfile(src, dest)
        return
    with open(dest, "wb") as out:
        run(cmd, stdout=out)


def _builtin(tree, release):
    path = os.path.join(tree, "lib/modules", release, "modules.builtin")
    if not os.path.exists(path):
        return set()
    with open(path) as fh:
        return {os.path.basename(l.strip()).split(".ko")[0].replace("-", "_") for l in fh}


def build_initrd(tree, release, dest):
    """A ~1 MB busybox initrd that loads MODULES (dependencies first) and switch_roots to /dev/vda."""
    root = tempfile.mkdtemp(prefix="initrd.", dir=os.path.dirname(dest))
    try:
        for d in ("bin", "dev", "proc", "sys", "newroot", "lib/modules/" + release):
            os.makedirs(os.path.join(root, d))
        os.mknod(os.path.join(root, "dev/console"), 0o600 | 0o020000, os.makedev(5, 1))
        shutil.copy2("/bin/busybox", os.path.join(root, "bin/busybox"))
        shutil.copy2(os.path.join(HERE, "initrd-init.sh"), os.path.join(root, "init"))
        os.chmod(os.path.join(root, "init"), 0o755)
        # the package's config, copied to the guest's /boot/config-<release> (where the audit reads it)
        shutil.copy2(os.path.join(tree, "boot/config-" + release), os.path.join(root, "config"))
        builtin = _builtin(tree, release)
        order = []

        def add(name):
            name = name.replace("-", "_")
            if name in order or name in builtin:
                return
            src = _find_module(tree, release, name)
            if src is None:
                raise SystemExit("kernel %s has no module %s (and it is not built in)" % (release, name))
            ko = os.path.join(root, "lib/modules", release, name + ".ko")
            _decompress(src, ko)
            deps = run(["modinfo", "-F", "depends", ko], capture_output=True, text=True).stdout.strip()
            for dep in filter(None, deps.split(",")):
                add(dep)
            order.append(name)

        for name in MODULES:
            add(name)
        with open(os.path.join(root, "modules.order"), "w") as fh:
            fh.write("".join(n + ".ko\n" for n in order))
        files = run(["find", ".", "-mindepth", "1"], cwd=root, capture_output=True).stdout
        with open(dest, "wb") as out:
            cpio = subprocess.Popen(
                ["cpio", "--quiet", "-o", "-H", "newc"], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            gz = subprocess.Popen(["gzip", "-6"], stdin=cpio.stdout, stdout=out)
            cpio.stdout.close()
            cpio.communicate(files)
            if gz.wait() or cpio.returncode:
                raise SystemExit("building the initrd for %s failed" % release)
        return order
    finally:
        shutil.rmtree(root)


def kernel_recipe():
    return digest(BUILD_EPOCH, MODULES, file_bytes(os.path.join(HERE, "initrd-init.sh")), file_bytes("/bin/busybox"))


def ensure_kernel(package, version, suite=None, kind="qemu"):
    """Cached {vmlinuz, initrd.img, release, config} for one kernel package version (qemu), or
    {linux, modules.img, release, config} for Debian's user-mode-linux (uml)."""
    name = "%s_%s-%s" % (package, re.sub(r"[^A-Za-z0-9.+-]", "_", version), kernel_recipe())
    final = os.path.join(cache_root(), "kernels", name)
    with locked(final + ".lock"):
        if os.path.isfile(os.path.join(final, "release")):
            os.utime(final)
            return final
        prune(os.path.dirname(final))
        started = time.time()
        work = tempfile.mkdtemp(prefix=name + ".build.", dir=os.path.dirname(final))
        try:
            run(
                ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root"]
                + apt_options(suite)
                + ["%s=%s" % (package, version)],
                cwd=work,
                stdout=subprocess.DEVNULL,
            )
            deb = glob.glob(os.path.join(work, "*.deb"))[0]
            tree = os.path.join(work, "x")
            run(["dpkg-deb", "-x", deb, tree])
            out = os.path.join(work, "out")
            os.makedirs(out)
            if kind == "uml":
                release = _unpack_uml(tree, out)
            else:
                release = _unpack_qemu_kernel(tree, out)
            with open(os.path.join(out, "release"), "w") as fh:
                fh.write(release + "\n")
            os.rename(out, final)
        finally:
            shutil.rmtree(work)
        log("kernel %s %s ready in %.0f s" % (package, version, time.time() - started))
        return final


def _unpack_qemu_kernel(tree, out):
    vmlinuz = glob.glob(os.path.join(tree, "boot/vmlinuz-*"))[0]
    release = os.path.basename(vmlinuz)[len("vmlinuz-") :]
    shutil.copy2(vmlinuz, os.path.join(out, "vmlinuz"))
    shutil.copy2(os.path.join(tree, "boot/config-" + release), os.path.join(out, "config"))
    order = build_initrd(tree, release, os.path.join(out, "initrd.img"))
    with open(os.path.join(out, "modules"), "w") as fh:
        fh.write("\n".join(order) + "\n")
    return release


def _unpack_uml(tree, out):
    """Debian's user-mode-linux: the `linux.uml` binary, and its modules (with modules.dep) plus its
    config as a small ext4 disk the guest mounts at /lib/modules/<release> (guest-setup.sh)."""
    shutil.copy2(os.path.join(tree, "usr/bin/linux.uml"), os.path.join(out, "linux"))
    modules = glob.glob(os.path.join(tree, "usr/lib/uml/modules/*"))[0]
    release = os.path.basename(modules)
    with open(os.path.join(out, "config"), "wb") as fh:
        run(["gzip", "-dc", os.path.join(tree, "usr/share/doc/user-mode-linux/config.gz")], stdout=fh)
    shutil.copy2(os.path.join(out, "config"), os.path.join(modules, "config"))
    used = int(run(["du", "-sk", modules], capture_output=True, text=True).stdout.split()[0])
    run(
        ["mkfs.ext4", "-q", "-F", "-L", "nsvmodules", "-d", modules, os.path.join(out, "modules.img"),
         "%dk" % (used + used // 4 + 16384)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return release


# ---------------------------------------------------------------- image

INITTAB = """\
::sysinit:/usr/local/sbin/nsv-guest-setup
::respawn:/usr/sbin/sshd -D -e
::shutdown:/bin/busybox umount -a -r
"""
SSHD_CONFIG = """\
# nsverify molecule guest: key login as root only, no DNS lookups (slirp is restricted)
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
MaxStartups 50:30:100
MaxSessions 50
"""


def image_recipe(mirror):
    return digest(
        BUILD_EPOCH,
        SUITE,
        mirror,
        IMAGE_PACKAGES,
        IMAGE_SIZE,
        INITTAB,
        SSHD_CONFIG,
        file_bytes(os.path.join(HERE, "guest-setup.sh")),
    )


def _write(path, text, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def ensure_image():
    """The cached raw ext4 base image (debootstrap minbase + IMAGE_PACKAGES, our init)."""
    mirror = debian_mirror()
    final = os.path.join(cache_root(), "images", "base-%s-%s.img" % (SUITE, image_recipe(mirror)))
    with locked(final + ".lock"):
        if os.path.isfile(final):
            os.utime(final)
            return final
        prune(os.path.dirname(final))
        started = time.time()
        work = tempfile.mkdtemp(prefix="image.build.", dir=os.path.dirname(final))
        root = os.path.join(work, "root")
        try:
            log("building the guest image with debootstrap from %s (about a minute)" % mirror)
            run(
                ["debootstrap", "--variant=minbase", "--include=" + ",".join(IMAGE_PACKAGES), SUITE, root, mirror],
                stdout=subprocess.DEVNULL,
            )
            _write(
                os.path.join(root, "usr/local/sbin/nsv-guest-setup"),
                open(os.path.join(HERE, "guest-setup.sh")).read(),
                0o755,
            )
            _write(os.path.join(root, "etc/inittab"), INITTAB, 0o644)
            _write(os.path.join(root, "etc/ssh/sshd_config.d/nsverify.conf"), SSHD_CONFIG, 0o644)
            _write(os.path.join(root, "etc/fstab"), "# mounts are made by /usr/local/sbin/nsv-guest-setup\n", 0o644)
            _write(os.path.join(root, "etc/resolv.conf"), "", 0o644)
            if not glob.glob(os.path.join(root, "etc/ssh/ssh_host_*_key")):
                run(["ssh-keygen", "-A", "-f", root])
            for junk in glob.glob(os.path.join(root, "var/cache/apt/archives/*.deb")) + glob.glob(
                os.path.join(root, "var/lib/apt/lists/*_Packages")
            ):
                os.unlink(junk)
            umount_below(root)
            img = os.path.join(work, "base.img")
            run(["mkfs.ext4", "-q", "-F", "-L", "nsvroot", "-d", root, img, IMAGE_SIZE], stdout=subprocess.DEVNULL)
            os.rename(img, final)
        finally:
            remove_tree(work)
        log("image %s ready in %.0f s" % (os.path.basename(final), time.time() - started))
        return final


# ---------------------------------------------------------------- VMs


def prepare(platforms):
    """Resolve and build everything the platforms need; return {name: (kernel dir, package, version)}."""
    image = ensure_image()
    kernels = {}
    for p in platforms:
        package, version = resolve_kernel(p["nsv_kernel"])
        kernel = ensure_kernel(package, version, p["nsv_kernel"].get("suite"), p.get("nsv_kind", "qemu"))
        kernels[p["name"]] = (kernel, package, version)
    return image, kernels


# Top-level project entries the guests do not need (history, caches, reports).
PROJECT_SKIP = {".git", ".pytest_cache", ".cache", ".ansible", "reports", "bench", "molecule"}


def build_project_disk(project, dest):
    """A read-only ext4 image of `project` (minus PROJECT_SKIP) for /dev/vdb; built per run in seconds."""
    stage = tempfile.mkdtemp(prefix="project.", dir=os.path.dirname(dest))
    try:
        for entry in sorted(os.listdir(project)):
            if entry not in PROJECT_SKIP:
                # -H: a top-level symlink (a worktree's .venv pointing at another checkout's) is copied
                # as what it points to, so the guest has the tree itself
                run(["cp", "-a", "-H", os.path.join(project, entry), stage])
        used = int(run(["du", "-sk", stage], capture_output=True, text=True).stdout.split()[0])
        size_kb = used + used // 3 + 65536
        run(
            ["mkfs.ext4", "-q", "-F", "-L", "nsvproject", "-d", stage, dest, "%dk" % size_kb], stdout=subprocess.DEVNULL
        )
    finally:
        shutil.rmtree(stage)


def venv_arg(project):
    """` nsv.venv=<target>` when the project's .venv is a symlink (a git worktree sharing a checkout's venv):
    its scripts' #! lines name the target, which the guest then points at its copy (guest-setup.sh)."""
    venv = os.path.join(project, ".venv")
    if os.path.islink(venv) and " " not in os.path.realpath(venv):
        return " nsv.venv=" + os.path.realpath(venv)
    return ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(vm_dir, kernel_dir, platform, port, pubkey_b64, project=None, project_disk=None):
    with open(os.path.join(kernel_dir, "release")) as fh:
        release = fh.read().strip()
    cmdline = "console=ttyS0 root=/dev/vda rw panic=-1 loglevel=4 nsv.hostname=%s nsv.key=%s %s%s" % (
        platform["name"],
        pubkey_b64,
        platform.get("nsv_cmdline", ""),
        " nsv.cgroup=v1" if platform.get("nsv_cgroup") == "v1" else "",
    )
    extra = []
    if project_disk:
        cmdline += " nsv.project=%s%s" % (project, venv_arg(project))
        extra = ["-drive", "file=%s,if=virtio,format=raw,readonly=on" % project_disk]
    return release, [
        "qemu-system-x86_64",
        "-name",
        "nsv-" + platform["name"],
        # /dev/kvm exists here but qemu crashes on it: TCG only
        "-accel",
        "tcg,tb-size=256",
        "-cpu",
        "max",
        "-smp",
        "1",
        "-m",
        str(platform.get("nsv_memory", 1024)),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-serial",
        "file:" + os.path.join(vm_dir, "console.log"),
        "-kernel",
        os.path.join(kernel_dir, "vmlinuz"),
        "-initrd",
        os.path.join(kernel_dir, "initrd.img"),
        "-append",
        cmdline.strip(),
        "-drive",
        "file=%s,if=virtio,format=qcow2,cache=unsafe" % os.path.join(vm_dir, "disk.qcow2"),
        # user networking only: nothing changes on the host; restrict=on keeps the guest off every
        # network but the forwarded SSH port on loopback
        "-netdev",
        "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22" % port,
        "-device",
        "virtio-net-pci,netdev=n0",
        "-device",
        "virtio-rng-pci",
        "-daemonize",
        "-pidfile",
        os.path.join(vm_dir, "qemu.pid"),
    ] + extra


def ssh_ok(port, key):
    cmd = [
        "ssh",
        "-q",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        key,
        "-p",
        str(port),
        "root@127.0.0.1",
        "true",
    ]
    try:
        return (
            run(
                cmd,
                check=False,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


def read_pid(vm_dir):
    try:
        with open(os.path.join(vm_dir, "qemu.pid")) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def our_qemu(pid, vm_dir):
    """True when pid is still the qemu started for vm_dir (guards against PID reuse)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return False
    return b"qemu-system-x86_64" in os.path.basename(argv[0]) and any(
        os.path.join(vm_dir, "qemu.pid").encode() == a for a in argv
    )


def our_process(pid, vm_dir, program):
    """True when pid is still `program` (basename) started for vm_dir: an argument names vm_dir."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return False
    mark = vm_dir.encode()
    return bool(argv) and program.encode() in b" ".join(argv[:2]) and any(mark in a for a in argv)


def read_pidfile(path):
    try:
        with open(path) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def guest_alive(vm, vm_dir):
    if vm["kind"] == "uml":
        pid = read_pidfile(os.path.join(vm_dir, "uml.pid"))
        return pid is not None and our_process(pid, vm_dir, "linux")
    pid = read_pid(vm_dir)
    return pid is not None and our_qemu(pid, vm_dir)


def console_tail(vm_dir, lines=25):
    try:
        with open(os.path.join(vm_dir, "console.log"), errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return "(no console log)"


# ---------------------------------------------------------------- user-mode Linux
#
# A UML guest is a process tree on this machine. Its network is a tap device (UML's tuntap transport;
# slirp does not forward inbound connections) inside a network namespace made for it, with a /30 of its
# own: nothing changes in the host's network namespace. The controller reaches its sshd through
# `nsv_vm.py forward`, which listens on 127.0.0.1:<port> in the host's namespace and connects from inside
# the guest's namespace. destroy stops both by their pidfiles and removes the namespace (and the tap in it).

NETNS_PREFIX = "nsvmol-"
UML_TAP = "nsvmtap0"
UML_NET = ("10.213.254.1", "10.213.254.2", 30)
CLONE_NEWNET = 0x40000000


def netns_name(platform_name):
    return NETNS_PREFIX + platform_name[-(15 - len(NETNS_PREFIX)) :]


def uml_start(vm_dir, kernel_dir, image, platform, pubkey_b64, project=None, project_disk=None):
    """Create the namespace and tap, start the UML kernel and the forwarder; return (release, port)."""
    with open(os.path.join(kernel_dir, "release")) as fh:
        release = fh.read().strip()
    ns = netns_name(platform["name"])
    host, guest, plen = UML_NET
    if os.path.exists("/run/netns/" + ns):
        raise SystemExit("network namespace %s exists already: a run of this scenario is up (molecule destroy)" % ns)
    run(["ip", "netns", "add", ns])
    with open(os.path.join(vm_dir, "netns"), "w") as fh:
        fh.write(ns + "\n")
    for cmd in (
        ["ip", "tuntap", "add", "dev", UML_TAP, "mode", "tap"],
        ["ip", "addr", "add", "%s/%d" % (host, plen), "dev", UML_TAP],
        ["ip", "link", "set", UML_TAP, "up"],
        ["ip", "link", "set", "lo", "up"],
    ):
        run(["ip", "netns", "exec", ns] + cmd)
    disks = ["ubd0=%s,%s" % (os.path.join(vm_dir, "disk.cow"), image)]
    if project_disk:
        disks.append("ubd1r=" + project_disk)
    disks.append("ubd2r=" + os.path.join(kernel_dir, "modules.img"))
    args = [
        os.path.join(kernel_dir, "linux"),
        "mem=%dM" % platform.get("nsv_memory", 1024),
        "root=/dev/ubda",
        "rw",
        "panic=-1",
        "loglevel=4",
        "con=null",
        "con0=null,fd:1",
        "eth0=tuntap,%s" % UML_TAP,
        "nsv.hostname=" + platform["name"],
        "nsv.key=" + pubkey_b64,
        "nsv.disks=ubd",
        "nsv.net=%s/%d,%s" % (guest, plen, host),
    ] + disks
    if project_disk:
        args += ("nsv.project=" + project + venv_arg(project)).split()
    if platform.get("nsv_cgroup") == "v1":
        args.append("nsv.cgroup=v1")
    args += platform.get("nsv_cmdline", "").split()
    # busybox init is the image's init (the qemu guests reach it through the initrd's switch_root)
    args += ["init=/bin/busybox", "--", "init"]
    with open(os.path.join(vm_dir, "console.log"), "wb") as con:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns] + args,
            stdin=subprocess.DEVNULL,
            stdout=con,
            stderr=subprocess.STDOUT,
            cwd=vm_dir,
            # UML keeps its memory in a file under TMPDIR: the per-run directory, removed by destroy
            env=dict(os.environ, TMPDIR=vm_dir),
            start_new_session=True,
        )
    with open(os.path.join(vm_dir, "uml.pid"), "w") as fh:
        fh.write("%d\n" % proc.pid)
    port = free_port()
    fwd = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "forward", "--netns", ns, "--port", str(port),
         "--target", "%s:22" % guest, "--state-dir", vm_dir],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(vm_dir, "forward.log"), "wb"),
        start_new_session=True,
    )  # fmt: skip
    with open(os.path.join(vm_dir, "forward.pid"), "w") as fh:
        fh.write("%d\n" % fwd.pid)
    return release, port


def _pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def forward(netns, port, target):
    """Listen on 127.0.0.1:port here, then move into `netns` and relay each connection to target."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + netns, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise SystemExit("setns into %s: %s" % (netns, os.strerror(ctypes.get_errno())))
    os.close(fd)
    host, _, tport = target.rpartition(":")
    while True:
        conn, _ = listener.accept()
        try:
            up = socket.create_connection((host, int(tport)), timeout=10)
            up.settimeout(None)
        except OSError:
            conn.close()
            continue
        for a, b in ((conn, up), (up, conn)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def uml_stop(vm_dir):
    """Stop a UML guest's process group and its forwarder (by pidfile), remove its namespace."""
    stopped = []
    for pidfile, program in (("forward.pid", "nsv_vm.py"), ("uml.pid", "linux")):
        pid = read_pidfile(os.path.join(vm_dir, pidfile))
        if pid and our_process(pid, vm_dir, program):
            # the session leader we started: UML runs one host process per guest address space
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            for _ in range(100):
                if not our_process(pid, vm_dir, program):
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            if program == "linux":
                stopped.append({"instance": os.path.basename(vm_dir), "pid": pid})
    # wait for the rest of the group (UML's helpers) before the namespace goes
    uml = read_pidfile(os.path.join(vm_dir, "uml.pid"))
    for _ in range(50):
        try:
            os.killpg(uml, 0) if uml else None
        except ProcessLookupError:
            break
        time.sleep(0.1)
    try:
        with open(os.path.join(vm_dir, "netns")) as fh:
            ns = fh.read().strip()
    except OSError:
        ns = None
    if ns and ns.startswith(NETNS_PREFIX) and os.path.exists("/run/netns/" + ns):
        run(["ip", "netns", "delete", ns], check=False)
    return stopped


# ---------------------------------------------------------------- create / destroy


def _launch(p, vm_dir, image, kernels, pubkey_b64, project, project_disk):
    """Start one guest; return its record for the boot wait."""
    kernel_dir, package, version = kernels[p["name"]]
    kind = p.get("nsv_kind", "qemu")
    if kind == "uml":
        release, port = uml_start(vm_dir, kernel_dir, image, p, pubkey_b64, project, project_disk)
        pid = read_pidfile(os.path.join(vm_dir, "uml.pid"))
    else:
        disk = os.path.join(vm_dir, "disk.qcow2")
        if os.path.exists(disk):
            os.unlink(disk)
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", image, disk])
        for _attempt in range(5):
            port = free_port()
            release, cmd = qemu_command(vm_dir, kernel_dir, p, port, pubkey_b64, project, project_disk)
            res = run(cmd, check=False, capture_output=True, text=True)
            if res.returncode == 0:
                break
            if "host forwarding" not in res.stderr:
                raise SystemExit("qemu for %s failed: %s" % (p["name"], res.stderr.strip()))
        else:
            raise SystemExit("no free loopback port for %s" % p["name"])
        pid = read_pid(vm_dir)
    log("booting %s (%s): %s on 127.0.0.1:%d (pid %s)" % (p["name"], kind, release, port, pid))
    return {
        "vm_dir": vm_dir,
        "kind": kind,
        "port": port,
        "release": release,
        "package": package,
        "version": version,
        "since": time.time(),
    }


# What user-mode Linux prints when it cannot restore a user process's FPU state through ptrace: the
# host kernel takes PTRACE_SETREGSET NT_X86_XSTATE only with its full XSAVE size (EFAULT otherwise), and
# on a CPU with AMX tile state that size is larger than the buffer UML passes (seen with Debian's 6.1um4
# and trixie's 6.12um1 on a Sapphire Rapids host). The first user process (init) dies with SIGSEGV.
UML_FPU_FAILURE = "ptrace set fp regs failed"


def host_cpu_flags(path="/proc/cpuinfo"):
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def uml_unavailable(vm):
    """The reason a UML guest cannot run on this host, from its console, or None (an ordinary failure)."""
    try:
        with open(os.path.join(vm["vm_dir"], "console.log"), errors="replace") as fh:
            console = fh.read()
    except OSError:
        return None
    if vm["kind"] != "uml" or UML_FPU_FAILURE not in console:
        return None
    line = next(x.strip() for x in console.splitlines() if UML_FPU_FAILURE in x)
    amx = sorted(f for f in host_cpu_flags() if f.startswith("amx"))
    return (
        "user-mode Linux %s cannot run a user process on this host's CPU: its init died at the first FPU "
        "state restore (console: %r; EFAULT: the host kernel takes NT_X86_XSTATE only at its full XSAVE size%s, "
        "larger than UML's buffer). A UML limitation of this CPU, not of nsverify; the instance is left out "
        "of converge and verify and reported as not run"
        % (
            vm["release"],
            line,
            (", which includes this CPU's AMX tile state (%s in /proc/cpuinfo)" % " ".join(amx) if amx else ""),
        )
    )


def _wait_for_ssh(booting, key):
    ready = {}
    deadline = time.time() + BOOT_TIMEOUT
    while len(ready) < len(booting):
        for name, vm in booting.items():
            if name in ready:
                continue
            if not guest_alive(vm, vm["vm_dir"]):
                reason = uml_unavailable(vm)
                if reason:
                    vm["unavailable"] = reason
                    ready[name] = vm
                    log("%s not run: %s" % (name, reason))
                    continue
                raise SystemExit("VM %s stopped while booting; console:\n%s" % (name, console_tail(vm["vm_dir"])))
            if ssh_ok(vm["port"], key):
                vm["boot_seconds"] = round(time.time() - vm["since"], 1)
                ready[name] = vm
                log("%s answers on SSH after %.1f s" % (name, vm["boot_seconds"]))
        if len(ready) < len(booting):
            if time.time() > deadline:
                late = sorted(set(booting) - set(ready))
                raise SystemExit(
                    "no SSH after %d s from %s; console of %s:\n%s"
                    % (BOOT_TIMEOUT, ", ".join(late), late[0], console_tail(booting[late[0]]["vm_dir"]))
                )
            time.sleep(2)
    return ready


def create(platforms, state_dir, key, project=None):
    started = time.time()
    image, kernels = prepare(platforms)
    log("cache ready in %.0f s" % (time.time() - started))
    with open(key + ".pub") as fh:
        pubkey_b64 = fh.read().split()[1]
    os.makedirs(state_dir, exist_ok=True)
    project_disk = None
    if project:
        if " " in project:
            raise SystemExit("the project path %r contains a space; it is passed on the kernel command line" % project)
        started = time.time()
        project_disk = os.path.join(state_dir, "project.img")
        build_project_disk(project, project_disk)
        log("project disk ready in %.0f s" % (time.time() - started))
    ready = {}
    wave = max(1, BOOT_WAVE)
    for i in range(0, len(platforms), wave):
        booting = {}
        for p in platforms[i : i + wave]:
            vm_dir = os.path.join(state_dir, p["name"])
            os.makedirs(vm_dir, exist_ok=True)
            booting[p["name"]] = _launch(p, vm_dir, image, kernels, pubkey_b64, project, project_disk)
        ready.update(_wait_for_ssh(booting, key))
    return [instance_config(name, vm, key) for name, vm in sorted(ready.items())]


def instance_config(name, vm, key):
    """molecule's instance config of one guest; a guest that cannot run on this host carries `unavailable`
    (the reason) instead of an address, and converge/verify leave it out (../shared/available.yml)."""
    entry = {
        "instance": name,
        "kernel_release": vm["release"],
        "kernel_package": "%s=%s" % (vm["package"], vm["version"]),
        "kind": vm["kind"],
    }
    if vm.get("unavailable"):
        return dict(entry, unavailable=vm["unavailable"])
    return dict(
        entry,
        address="127.0.0.1",
        user="root",
        port=vm["port"],
        identity_file=key,
        boot_seconds=vm["boot_seconds"],
        pid=read_pid(vm["vm_dir"]) or read_pidfile(os.path.join(vm["vm_dir"], "uml.pid")),
    )


def destroy(state_dir):
    """Stop the VMs whose pidfiles are under state_dir, by PID, then remove state_dir."""
    stopped = []
    if not os.path.isdir(state_dir):
        return stopped
    for vm_dir in sorted(glob.glob(os.path.join(state_dir, "*", ""))):
        if os.path.basename(vm_dir.rstrip("/")).startswith("project."):
            continue
        vm_dir = vm_dir.rstrip("/")
        if os.path.exists(os.path.join(vm_dir, "uml.pid")) or os.path.exists(os.path.join(vm_dir, "netns")):
            stopped += uml_stop(vm_dir)
            continue
        pid = read_pid(vm_dir)
        if pid and our_qemu(pid, vm_dir):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not our_qemu(pid, vm_dir):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
            stopped.append({"instance": os.path.basename(vm_dir), "pid": pid})
    shutil.rmtree(state_dir)
    return stopped


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=("prepare", "create", "destroy", "forward"))
    ap.add_argument("--netns", help="forward: the network namespace to connect from")
    ap.add_argument("--port", type=int, help="forward: the loopback port to listen on")
    ap.add_argument("--target", help="forward: address:port to connect to inside --netns")
    ap.add_argument("--platforms", help="JSON list of molecule platforms")
    ap.add_argument("--state-dir", help="per-run directory for overlays, pidfiles and console logs")
    ap.add_argument("--key", help="private key of the run (the .pub beside it goes into the guests)")
    ap.add_argument("--project", help="project directory to attach read-only to every guest at the same path")
    args = ap.parse_args(argv)
    if args.action == "forward":
        forward(args.netns, args.port, args.target)
        return 0
    if args.action == "destroy":
        print(json.dumps({"stopped": destroy(os.path.abspath(args.state_dir))}))
        return 0
    platforms = json.loads(args.platforms)
    if args.action == "prepare":
        image, kernels = prepare(platforms)
        print(json.dumps({"image": image, "kernels": {k: v[0] for k, v in kernels.items()}}))
        return 0
    state_dir = os.path.abspath(args.state_dir)
    try:
        print(
            json.dumps(
                create(
                    platforms,
                    state_dir,
                    os.path.abspath(args.key),
                    os.path.abspath(args.project) if args.project else None,
                )
            )
        )
    except BaseException:
        # leave nothing running behind a failed create
        destroy(state_dir)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
