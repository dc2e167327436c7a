"""The container's network: lo up, the veth pair to the host and its /30, the interfaces seen
from inside. ioctls inside the container, rtnetlink (rtnetlink.py) for the veth: no ip binary."""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct
import time

from ansible.module_utils.nsverify import rtnetlink
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
        for _unused, name in sorted(socket.if_nameindex()):
            try:
                addr = _ipv4_of(s, name, SIOCGIFADDR)
                mask = _ipv4_of(s, name, SIOCGIFNETMASK)
                out.append([name, "%s/%d" % (addr, ipaddress.IPv4Network("0.0.0.0/%s" % mask).prefixlen)])
            except OSError:  # EADDRNOTAVAIL: no IPv4 address
                out.append([name, None])
    return out


def link_exists(ifname):
    return os.path.exists(os.path.join("/sys/class/net", ifname))


def setup_veth(veth, init_pid):
    """Host end in the host, peer moved into the container's network namespace, a /30 between;
    in-process over rtnetlink (the peer's side from a thread in init's network namespace)."""

    def inside(nl):
        nl.add_address(veth["container"], veth["container_address"])
        nl.set_up(veth["container"])

    try:
        with rtnetlink.Rtnl() as nl:
            nl.add_veth(veth["host"], veth["container"], peer_netns_pid=init_pid)
            nl.add_address(veth["host"], veth["host_address"])
            nl.set_up(veth["host"])
        rtnetlink.in_netns(init_pid, inside)
    except OSError as exc:
        raise ContainerError("veth %s/%s: %s" % (veth["host"], veth["container"], exc), errno=exc.errno)


def delete_link(ifname):
    """Delete a link, quietly (a veth pair goes with it); True when the kernel removed it."""
    try:
        with rtnetlink.Rtnl() as nl:
            nl.delete_link(ifname)
        return True
    except OSError:
        return False


def remove_veth(veth, patience=5.0):
    """Delete the host end; True when it existed. The kernel tears a dead network namespace down
    asynchronously (cleanup_net workqueue): its veth pair can outlive init by a moment."""
    existed = link_exists(veth["host"])
    if existed:
        delete_link(veth["host"])
    deadline = time.monotonic() + patience
    delay = 0.001
    while link_exists(veth["host"]) and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    if link_exists(veth["host"]):
        delete_link(veth["host"])
    return existed
