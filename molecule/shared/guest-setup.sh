#!/bin/sh
# sysinit of the test image (busybox init runs it once, then keeps sshd running).
# A plain init instead of systemd: under TCG every second of boot counts, and the
# guest needs no services but sshd. Settings arrive on the kernel command line:
#   nsv.hostname=<name>  nsv.key=<base64 of the run's ed25519 public key>
#   nsv.project=<path>   mount the read-only project disk (/dev/vdb) there, for the test suite
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
# cgroup v2 only, as on a current systemd host (this project's CI host is hybrid v1/v2,
# so the guests cover the other layout); controllers enabled for child cgroups.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
done

depmod -a 2>/dev/null || true

name=nsv-guest
key=
project=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        nsv.hostname=*) name=${arg#nsv.hostname=} ;;
        nsv.key=*) key=${arg#nsv.key=} ;;
        nsv.project=*) project=${arg#nsv.project=} ;;
    esac
done
hostname "$name"
printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$name" >/etc/hosts

ip link set lo up
# slirp's fixed addresses (qemu -netdev user); the netdev runs with restrict=on, so the
# guest reaches nothing but the host's port forward.
dev=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
ip link set "$dev" up
ip addr add 10.0.2.15/24 dev "$dev"
ip route add default via 10.0.2.2

mkdir -p -m 700 /root/.ssh
if [ -n "$key" ]; then
    echo "ssh-ed25519 $key nsverify-molecule" >/root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
fi
if [ -n "$project" ] && [ -b /dev/vdb ]; then
    mkdir -p "$project"
    mount -t ext4 -o ro /dev/vdb "$project"
fi
mkdir -p -m 755 /run/sshd
echo "nsv-guest: ready for sshd ($(uname -r))" >/dev/console
