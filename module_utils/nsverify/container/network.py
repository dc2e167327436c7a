"""The container's network: lo up, the veth pair to the host and its /30, the interfaces seen
from inside. ioctls where no ip binary is needed (inside the container), ip(8) on the host."""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct
import subprocess
import time

from ansible.module_utils.nsverify.container.config import ContainerError

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B
IFF_UP = 0x1


def link_up(ifname):
    """Bring an interface up with SIOCSIFFLAGS (netdevice(7)), no ip binary needed."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH", ifname.encode(), 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifr)[:18])[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH", ifname.encode(), flags | IFF_UP))


def _ipv4_of(sock, ifname, request):
    ifr = struct.pack("256s", ifname.encode()[:15])
    return socket.inet_ntoa(fcntl.ioctl(sock.fileno(), request, ifr)[20:24])


def interfaces_here():
    """[[name, 'addr/prefix' or None], ...] of the calling process's network namespace
    (SIOCGIFADDR, netdevice(7): the first IPv4 address; no ip binary needed)."""
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in sorted(socket.if_nameindex()):
            try:
                addr = _ipv4_of(s, name, SIOCGIFADDR)
                mask = _ipv4_of(s, name, SIOCGIFNETMASK)
                out.append([name, "%s/%d" % (addr, ipaddress.IPv4Network("0.0.0.0/%s" % mask).prefixlen)])
            except OSError:  # EADDRNOTAVAIL: no IPv4 address
                out.append([name, None])
    return out


def run_ip(argv):
    res = subprocess.run(
        argv, capture_output=True, text=True, env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, timeout=30
    )
    if res.returncode != 0:
        raise ContainerError(
            "%s failed (rc %d): %s" % (" ".join(argv), res.returncode, res.stderr.strip()),
            cmd=argv,
            rc=res.returncode,
            stderr=res.stderr,
        )
    return res.stdout


def link_exists(ifname):
    return os.path.exists(os.path.join("/sys/class/net", ifname))


def setup_veth(veth, init_pid):
    """Host end in the host, peer moved into the container's network namespace, a /30 between."""
    run_ip(
        ["ip", "link", "add", veth["host"], "type", "veth", "peer", "name", veth["container"], "netns", str(init_pid)]
    )
    run_ip(["ip", "addr", "add", veth["host_address"], "dev", veth["host"]])
    run_ip(["ip", "link", "set", veth["host"], "up"])
    inside = ["nsenter", "--target", str(init_pid), "--net", "--", "ip"]
    run_ip(inside + ["addr", "add", veth["container_address"], "dev", veth["container"]])
    run_ip(inside + ["link", "set", veth["container"], "up"])


def delete_link(ifname):
    """ip link del, quietly (the pair goes with it)."""
    subprocess.run(["ip", "link", "del", ifname], capture_output=True)


def remove_veth(veth, patience=5.0):
    """Delete the host end; True when it existed. The kernel tears a dead network namespace down
    asynchronously (cleanup_net workqueue): its veth pair can outlive init by a moment."""
    existed = link_exists(veth["host"])
    if existed:
        delete_link(veth["host"])
    deadline = time.monotonic() + patience
    while link_exists(veth["host"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    if link_exists(veth["host"]):
        delete_link(veth["host"])
    return existed
