"""Static C helpers that tests compile and copy into a BusyBox container (no Python, no keyctl or cgroup-aware
unshare applets there) to try the escapes of issue 10 from inside. Built once per test module into a tmp dir;
a test skips when no C compiler with a static libc is at hand."""

import os
import shutil
import subprocess

# `keyprobe search DESC` prints the payload of the user key DESC ("found ...") or "errno N";
# `keyprobe add DESC PAYLOAD` adds one to the user keyring and prints "added SERIAL". Exit 0 when it worked.
KEYPROBE = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    char buf[4096];
    long serial, n;
    if (argc == 3 && strcmp(argv[1], "search") == 0) {
        serial = syscall(SYS_keyctl, 10L, -4L, "user", argv[2], 0L);   /* KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING */
        if (serial < 0) { printf("errno %d\n", errno); return 1; }
        n = syscall(SYS_keyctl, 11L, serial, buf, (long)sizeof(buf) - 1); /* KEYCTL_READ */
        if (n < 0) { printf("errno %d\n", errno); return 1; }
        buf[n < (long)sizeof(buf) ? n : (long)sizeof(buf) - 1] = 0;
        printf("found %s\n", buf);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "add") == 0) {
        serial = syscall(SYS_add_key, "user", argv[2], argv[3], strlen(argv[3]), -4L);
        if (serial < 0) { printf("errno %d\n", errno); return 1; }
        printf("added %ld\n", serial);
        return 0;
    }
    fprintf(stderr, "usage: keyprobe search DESC | add DESC PAYLOAD\n");
    return 2;
}
"""

# `raiselimit FILE VALUE`: escape 1 -- a child user namespace (root mapped to root), new mount and cgroup
# namespaces owned by it, a v1 pids (or v2) hierarchy mounted there, VALUE written to FILE in it. Prints each
# step and "raised" at the end, or "STEP errno N".
RAISELIMIT = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
static int put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY), ok;
    if (fd < 0) return -1;
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok ? 0 : -1;
}
#define TRY(step, call) do { if ((call) < 0) { printf("%s errno %d\n", step, errno); return 1; } \
                             printf("%s ok\n", step); } while (0)
int main(int argc, char **argv) {
    char path[512];
    if (argc != 3) { fprintf(stderr, "usage: raiselimit FILE VALUE\n"); return 2; }
    TRY("unshare", unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP));
    TRY("setgroups", put("/proc/self/setgroups", "deny"));
    TRY("uid_map", put("/proc/self/uid_map", "0 0 1"));
    TRY("gid_map", put("/proc/self/gid_map", "0 0 1"));
    mkdir("/tmp/nsv-cg", 0700);
    if (mount("nsv", "/tmp/nsv-cg", "cgroup", 0, "pids") < 0)
        TRY("mount", mount("nsv", "/tmp/nsv-cg", "cgroup2", 0, NULL));
    snprintf(path, sizeof(path), "/tmp/nsv-cg/%s", argv[1]);
    TRY("write", put(path, argv[2]));
    printf("raised\n");
    return 0;
}
"""

SOURCES = {"keyprobe": KEYPROBE, "raiselimit": RAISELIMIT}


def build(name, dest_dir):
    """Compile helper `name` statically into dest_dir; its path, or None without a compiler / static libc."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    src = os.path.join(dest_dir, name + ".c")
    out = os.path.join(dest_dir, name)
    with open(src, "w") as fh:
        fh.write(SOURCES[name])
    res = subprocess.run([cc, "-static", "-O1", "-o", out, src], capture_output=True, text=True)
    return out if res.returncode == 0 else None
