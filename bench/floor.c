/* The C floor of the benchmark: what the kernel work costs without any runtime around it.
 *
 *   floor container ROOTFS   new mnt uts ipc net cgroup pid namespaces, fork PID 1, private /,
 *                            /proc mounted in ROOTFS, chroot, exec /bin/true, wait; exit code of it
 *   floor container ROOTFS DIR   the same on an overlay: lower ROOTFS, upper and work under DIR
 *   floor create8            each of the 8 types once in a forked child (pid and time: one more
 *                            fork, a process inside), all reaped: the floor of 8 namespace creations
 *
 * Built by bench/run.py with `gcc -O2 -o bench/.build/floor bench/floor.c`.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static int wait_child(pid_t pid)
{
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return 127;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int container(const char *rootfs, const char *dir)
{
    char proc[8200], merged[4096], opts[12288];
    if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWPID)) {
        perror("unshare");
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (dir) {
            snprintf(merged, sizeof merged, "%s/merged", dir);
            snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s/upper,workdir=%s/work", rootfs, dir, dir);
            if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) || mount("overlay", merged, "overlay", 0, opts)) {
                perror("overlay");
                _exit(1);
            }
            rootfs = merged;
        }
        snprintf(proc, sizeof proc, "%s/proc", rootfs);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) || sethostname("nsvbench", 8) ||
            mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) || chroot(rootfs) || chdir("/")) {
            perror("container setup");
            _exit(1);
        }
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    return wait_child(pid);
}

static int create8(void)
{
    static const int flags[] = {CLONE_NEWNS,  CLONE_NEWUTS,    CLONE_NEWIPC, CLONE_NEWPID,
                                CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWCGROUP, CLONE_NEWTIME};
    int failed = 0;
    for (unsigned i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            if (unshare(flags[i]))
                _exit(1);
            if (flags[i] == CLONE_NEWPID || flags[i] == CLONE_NEWTIME) {
                pid_t inner = fork();
                if (inner == 0)
                    _exit(0);
                _exit(wait_child(inner));
            }
            _exit(0);
        }
        failed += wait_child(pid) != 0;
    }
    return failed;
}

int main(int argc, char **argv)
{
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "container"))
        return container(argv[2], argc == 4 ? argv[3] : NULL);
    if (argc == 2 && !strcmp(argv[1], "create8"))
        return create8();
    fprintf(stderr, "usage: floor container ROOTFS [DIR] | floor create8\n");
    return 2;
}
