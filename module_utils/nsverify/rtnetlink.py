"""A small rtnetlink client (rtnetlink(7), stdlib socket AF_NETLINK): the few link and address
requests the engine makes, in-process, without ip(8) or pyroute2 (which targets may lack).

    with Rtnl() as nl:
        nl.add_veth("nsvh0", "nsvc0", peer_netns_pid=1234)
        nl.add_address("nsvh0", "10.0.0.1/30")
        nl.set_up("nsvh0")
    in_netns(1234, configure)   # configure(Rtnl) with a socket bound to pid 1234's netns

Every request asks for an ACK; a negative error in it raises NetlinkError (an OSError with
the errno and the request named).
"""

from __future__ import annotations

import errno as errno_mod
import ipaddress
import os
import socket
import struct
import threading

from ansible.module_utils.nsverify import procfs, syscalls

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_NEWADDR = 20
IFLA_IFNAME = 3
IFLA_LINKINFO = 18
IFLA_NET_NS_PID = 19
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFF_UP = 0x1
CLONE_NEWNET = 0x40000000

NLMSGHDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBI")
NLMSGERR = struct.Struct("=i")


class NetlinkError(OSError):
    """A request the kernel refused: errno, and what was asked in the message."""


def attr(kind, payload):
    """One rtattr, padded to 4 bytes. payload: bytes, or a str (NUL-terminated)."""
    if isinstance(payload, str):
        payload = payload.encode() + b"\0"
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def ifinfo(index=0, flags=0, change=0):
    return IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)


class Rtnl:
    """One NETLINK_ROUTE socket, bound to the network namespace of the thread that made it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def request(self, msg_type, flags, body, what):
        """Send one request with NLM_F_ACK and wait for its ACK; NetlinkError on refusal."""
        self.seq += 1
        head = NLMSGHDR.pack(NLMSGHDR.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, self.seq, 0)
        self.sock.sendall(head + body)
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + NLMSGHDR.size <= len(data):
                length, kind, _flags, seq, _pid = NLMSGHDR.unpack_from(data, off)
                if kind == NLMSG_ERROR and seq == self.seq:
                    err = -NLMSGERR.unpack_from(data, off + NLMSGHDR.size)[0]
                    if err:
                        raise NetlinkError(err, "%s: %s" % (what, os.strerror(err)))
                    return
                off += max(NLMSGHDR.size, (length + 3) & ~3)

    def add_veth(self, name, peer, peer_netns_pid=None):
        """RTM_NEWLINK type veth: `name` here, `peer` in the network namespace of the pid."""
        peer_attrs = attr(IFLA_IFNAME, peer)
        if peer_netns_pid is not None:
            peer_attrs += attr(IFLA_NET_NS_PID, struct.pack("=I", peer_netns_pid))
        data = attr(VETH_INFO_PEER, ifinfo() + peer_attrs)
        linkinfo = attr(IFLA_INFO_KIND, "veth") + attr(IFLA_INFO_DATA, data)
        body = ifinfo() + attr(IFLA_IFNAME, name) + attr(IFLA_LINKINFO, linkinfo)
        where = " (peer %s into the netns of pid %s)" % (peer, peer_netns_pid) if peer_netns_pid else ""
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, "adding veth %s%s" % (name, where))

    def add_address(self, ifname, cidr):
        """RTM_NEWADDR: an IPv4 address/prefix on ifname (as `ip addr add CIDR dev IFNAME`)."""
        iface = ipaddress.IPv4Interface(cidr)
        index = self.index(ifname)
        packed = iface.ip.packed
        body = IFADDRMSG.pack(socket.AF_INET, iface.network.prefixlen, 0, 0, index)
        body += attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed)
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, "adding %s to %s" % (cidr, ifname))

    def set_up(self, ifname):
        self.request(RTM_NEWLINK, 0, ifinfo(self.index(ifname), IFF_UP, IFF_UP), "setting %s up" % ifname)

    def delete_link(self, ifname):
        """RTM_DELLINK by name (a veth pair goes as a whole)."""
        self.request(RTM_DELLINK, 0, ifinfo() + attr(IFLA_IFNAME, ifname), "deleting link %s" % ifname)

    def index(self, ifname):
        """ifindex in this socket's namespace (if_nametoindex runs in the calling thread's)."""
        try:
            return socket.if_nametoindex(ifname)
        except OSError as exc:
            raise NetlinkError(exc.errno or errno_mod.ENODEV, "no interface %s: %s" % (ifname, exc))


def in_netns(pid, fn, proc="/proc"):
    """fn(Rtnl) run in a short-lived thread that joins the network namespace of `pid`
    (setns(2) of CLONE_NEWNET acts on the calling thread only): the calling thread never
    changes namespace. Returns fn's result; its exception is raised here."""
    out = {}

    def work():
        try:
            target = os.open(procfs.ns_path(pid, "net", proc), os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(target, CLONE_NEWNET)
            finally:
                os.close(target)
            with Rtnl() as nl:
                out["value"] = fn(nl)
        except BaseException as exc:  # handed to the caller
            out["error"] = exc

    thread = threading.Thread(target=work, name="nsv-netns-%s" % pid)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")
