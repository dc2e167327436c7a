#!/bin/sh
# sysinit of the test image (busybox init runs it once, then keeps sshd running).
# A plain init instead of systemd: under TCG every second of boot counts, and the
# guest needs no services but sshd. Settings arrive on the kernel command line:
#   nsv.hostname=<name>  nsv.key=<base64 of the run's ed25519 public key>
#   nsv.project=<path>   mount the read-only project disk (/dev/vdb) there, for the test suite
#   nsv.disks=<prefix>   block devices are <prefix>a (root), <prefix>b (project), <prefix>c (modules);
#                        default vd (qemu virtio); ubd for user-mode Linux
#   nsv.net=<addr/len>,<gateway>  the guest's address (default slirp's 10.0.2.15/24,10.0.2.2)
#   nsv.cgroup=v1        mount the cgroup v1 hierarchies (one per controller) and no cgroup2
#   nsv.venv=<path>      the project's .venv is a symlink to <path> on the controller (a git worktree):
#                        make <path> point at the copy on the project disk (its scripts name <path>)
# An unprivileged user, nsvuser (uid 1000), is created on every boot for the unprivileged audit and proofs.
set -u
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
name=nsv-guest
key=
project=
disks=vd
net=10.0.2.15/24,10.0.2.2
cgroup=v2
venv=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        nsv.hostname=*) name=${arg#nsv.hostname=} ;;
        nsv.key=*) key=${arg#nsv.key=} ;;
        nsv.project=*) project=${arg#nsv.project=} ;;
        nsv.disks=*) disks=${arg#nsv.disks=} ;;
        nsv.net=*) net=${arg#nsv.net=} ;;
        nsv.cgroup=*) cgroup=${arg#nsv.cgroup=} ;;
        nsv.venv=*) venv=${arg#nsv.venv=} ;;
    esac
done

if [ "$cgroup" = v1 ]; then
    # pure cgroup v1, as on a host booted with systemd.unified_cgroup_hierarchy=0 and no cgroup2
    # anywhere: a tmpfs with one hierarchy per enabled controller (cpu and cpuacct together)
    mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup /sys/fs/cgroup
    for c in $(awk 'NR > 1 && $4 == 1 { print $1 }' /proc/cgroups); do
        case "$c" in
            cpu | cpuacct) dir=cpu,cpuacct opts=cpu,cpuacct ;;
            net_cls | net_prio) dir=net_cls,net_prio opts=net_cls,net_prio ;;
            *) dir=$c opts=$c ;;
        esac
        [ -d "/sys/fs/cgroup/$dir" ] && continue
        mkdir -p "/sys/fs/cgroup/$dir"
        mount -t cgroup -o "$opts" cgroup "/sys/fs/cgroup/$dir"
        # init and everything it starts (sshd, so every Ansible task) in a child cgroup, as
        # systemd places them (init.scope); the root cgroup is what a systemd host keeps empty
        mkdir "/sys/fs/cgroup/$dir/init.scope"
        echo 1 >"/sys/fs/cgroup/$dir/init.scope/cgroup.procs"
        echo $$ >"/sys/fs/cgroup/$dir/init.scope/cgroup.procs"
    done
else
    # cgroup v2 only, as on a current systemd host (this project's CI host is hybrid v1/v2,
    # so the guests cover the other layout); controllers enabled for child cgroups.
    mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
    for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
        echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    done
    # init and everything it starts in a leaf of its own, as systemd does (init.scope)
    mkdir /sys/fs/cgroup/init.scope
    echo 1 >/sys/fs/cgroup/init.scope/cgroup.procs
    echo $$ >/sys/fs/cgroup/init.scope/cgroup.procs
fi

# user-mode Linux: its modules arrive on a disk of their own (qemu guests get them from the initrd)
if [ -b "/dev/${disks}c" ]; then
    mkdir -p "/lib/modules/$(uname -r)"
    mount -t ext4 -o ro "/dev/${disks}c" "/lib/modules/$(uname -r)"
    mkdir -p /boot
    cp "/lib/modules/$(uname -r)/config" "/boot/config-$(uname -r)" 2>/dev/null || true
fi
depmod -a 2>/dev/null || true
hostname "$name"
printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$name" >/etc/hosts

ip link set lo up
# slirp's fixed addresses (qemu -netdev user); the netdev runs with restrict=on, so the
# guest reaches nothing but the host's port forward.
dev=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
ip link set "$dev" up
ip addr add "${net%,*}" dev "$dev"
ip route add default via "${net#*,}"

mkdir -p -m 700 /root/.ssh
if [ -n "$key" ]; then
    echo "ssh-ed25519 $key nsverify-molecule" >/root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
fi
if [ -n "$project" ] && [ -b "/dev/${disks}b" ]; then
    mkdir -p "$project"
    mount -t ext4 -o ro "/dev/${disks}b" "$project"
    if [ -n "$venv" ] && [ ! -e "$venv" ]; then
        mkdir -p "${venv%/*}"
        ln -s "$project/.venv" "$venv"
    fi
fi
# the unprivileged user of the audit and proofs run again without root (no password, no login by SSH:
# the controller reaches it through su from root)
if ! id nsvuser >/dev/null 2>&1; then
    useradd --uid 1000 --user-group --create-home --shell /bin/sh nsvuser
fi
mkdir -p -m 755 /run/sshd
echo "nsv-guest: ready for sshd ($(uname -r))" >/dev/console
