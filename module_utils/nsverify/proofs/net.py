"""Network proof (NS-NET-001..003).

001: a new namespace has only lo, and it is down: if_nameindex(3) and SIOCGIFFLAGS from inside
     (not /sys/class/net, which shows the netns of whoever mounted sysfs). A joined namespace
     (a container's) may have lo up and links it was given by design: it passes when its links
     are exactly lo plus the option expected_interfaces; any other link fails it.
002: a TCP listener bound inside on 127.0.0.1:<port> is not in the host's /proc/net/tcp
     (matched by socket inode and by address) and a connect from the host is refused.
003: a veth pair nsv<tok>a/nsv<tok>b joins two throwaway namespaces made here, 10.x/30
     addresses exist only inside them, and a UDP datagram makes the round trip. Both ends die
     with their namespaces; the creator also deletes its end in a finally block.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import time

from ansible.module_utils.nsverify import catalog, probe, procfs, rtnetlink, syscalls
from ansible.module_utils.nsverify.proofs import base

TYPE = "net"
CONTROL_IDS = ("NS-NET-001", "NS-NET-002", "NS-NET-003")
KERNEL_CHECKS = ("NS-NET-003",)  # a veth between two namespaces made here (foreign.py)

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
TCP_LISTEN = "0A"


# ---------------------------------------------------------------- /proc/net/tcp (procfs.parse_net_tcp)
def listeners(rows, port=None, inode=None):
    return [
        r
        for r in rows
        if r["state"] == TCP_LISTEN
        and ((port is not None and r["local_port"] == port) or (inode is not None and r["inode"] == inode))
    ]


# ---------------------------------------------------------------- interface flags
def if_flags(name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        res = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, struct.pack("16sH14x", name.encode(), 0))
        return struct.unpack("16sH14x", res)[1]
    finally:
        s.close()


def set_if_up(name, up):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        flags = if_flags(name)
        flags = (flags | IFF_UP) if up else (flags & ~IFF_UP)
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", name.encode(), flags))
    finally:
        s.close()


def interfaces():
    return sorted(name for _unused, name in socket.if_nameindex())


# ---------------------------------------------------------------- 001 + 002 inside
def _inside(rendezvous, port, restore):
    names = interfaces()
    lo_up = bool(if_flags("lo") & IFF_UP) if "lo" in names else None
    raised = False
    if lo_up is False:
        set_if_up("lo", True)  # 127.0.0.1 is only usable on an up lo
        raised = True
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(4)
        inode = os.fstat(sock.fileno()).st_ino
        seen_inside = listeners(procfs.read_net_tcp(), port=port)
        rendezvous(
            {
                "interfaces": names,
                "lo_up": lo_up,
                "port": port,
                "socket_inode": inode,
                "inside_listeners": seen_inside,
                "inside_inode": os.stat(procfs.ns_path("self", "net")).st_ino,
            }
        )
    finally:
        sock.close()
        if raised and restore:
            set_if_up("lo", False)
    return {"lo_restored_down": raised and restore}


def _free_host_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _host_look(data):
    seen = dict(data)
    rows = procfs.read_net_tcp()
    seen["host_listeners_by_inode"] = listeners(rows, inode=data["socket_inode"])
    seen["host_listeners_on_port"] = listeners(rows, port=data["port"])
    conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    conn.settimeout(2)
    try:
        conn.connect(("127.0.0.1", data["port"]))
        seen["host_connect"] = "connected"
    except OSError as exc:
        seen["host_connect"] = syscalls.errno_name(exc.errno) or str(exc)
    finally:
        conn.close()
    seen["host_inode"] = base.own_inode(TYPE)
    return seen


# ---------------------------------------------------------------- 003 veth
SIOCGIFADDR = 0x8915


def ipv4_of(name):
    """The first IPv4 address of an interface (SIOCGIFADDR), None without one."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        res = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        return socket.inet_ntoa(res[20:24])
    except OSError:
        return None
    finally:
        s.close()


def _namespace_b(chan, name_b, addr_b, port, timeout):
    """Namespace B (spawned into a new net namespace by A): wait for its veth end, address it
    (rtnetlink, no ip process), echo one UDP datagram back."""
    chan.ready()
    if (chan.recv() or {}).get("go") is not True:
        return {}
    with rtnetlink.Rtnl() as nl:
        nl.add_address(name_b, addr_b + "/30")
        nl.set_up(name_b)
    out = {"b_links": interfaces(), "b_addrs": {name_b: ipv4_of(name_b)}}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((addr_b, port))
    sock.settimeout(timeout)
    chan.send({"listening": True})
    payload, peer = sock.recvfrom(256)
    sock.sendto(b"pong:" + payload, peer)
    out.update(received=payload.decode(), from_peer=list(peer))
    sock.close()
    return out


def _ping(addr_a, addr_b, port, timeout):
    """Send datagrams from A to B's echo until one comes back or `timeout` passes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((addr_a, 0))
    message = ("ping:%s" % base.token()).encode()
    deadline = time.monotonic() + timeout
    out = {}
    reply = None
    sent = 0
    # A datagram sent before the new link's qdisc is active (linkwatch) is dropped: resend after
    # 5 ms, doubling up to 200 ms, rather than wait 200 ms for the first answer.
    wait = 0.005
    while reply is None and time.monotonic() < deadline:
        sock.sendto(message, (addr_b, port))
        sent += 1
        sock.settimeout(wait)
        wait = min(wait * 2, 0.2)
        try:
            data, peer = sock.recvfrom(256)
            reply = data.decode()
            out["reply_from"] = list(peer)
        except socket.timeout:
            continue
    sock.close()
    out.update(sent=message.decode(), datagrams_sent=sent, reply=reply)
    return out


def _veth_round_trip(name_a, name_b, addr_a, addr_b, port, timeout):
    """In throwaway namespace A: make namespace B (probe.spawn), a veth between them (rtnetlink:
    the peer made straight into B's namespace), and a UDP echo."""
    ev = {"veth": [name_a, name_b], "addresses": [addr_a, addr_b], "port": port}
    args = (name_b, addr_b, port, timeout)
    with probe.spawn(_namespace_b, args=args, unshare=catalog.CLONE_NEWNET, timeout=2 * timeout + 10) as b:
        base.await_ready(b, catalog.CLONE_NEWNET, "namespace B")
        try:
            ev["ns_a_inode"] = os.stat(procfs.ns_path("self", "net")).st_ino
            ev["ns_b_inode"] = os.stat(procfs.ns_path(b.pid, "net")).st_ino
            with rtnetlink.Rtnl() as nl:
                nl.add_veth(name_a, name_b, peer_netns_pid=b.pid)
                nl.add_address(name_a, addr_a + "/30")
                nl.set_up(name_a)
            ev["a_links"] = interfaces()
            b.send({"go": True})
            if "listening" not in (b.recv() or {}):
                raise OSError(errno.EIO, "namespace B did not listen")
            ev.update(_ping(addr_a, addr_b, port, timeout))
        finally:
            try:
                with rtnetlink.Rtnl() as nl:
                    nl.delete_link(name_a)
                ev["deleted"] = name_a
            except OSError as exc:
                ev["delete_error"] = str(exc)
        res = probe.outcome(b)
    if res["ok"]:
        ev.update(res["value"] or {})
    else:
        ev["error"] = res.get("error")
    return ev


def judge_links(interfaces, lo_up, fresh, expected=()):
    """NS-NET-001's decision: (passed, evidence).

    Fresh: exactly [lo], and down (a new namespace is born so; expected_interfaces do not apply).
    Joined: the set of links is exactly {lo} | expected; lo may be up.
    """
    expected = sorted(set(expected or ()) - {"lo"})
    allowed = {"lo"} if fresh else {"lo"} | set(expected)
    seen = set(interfaces)
    ev = {
        "interfaces_inside": list(interfaces),
        "lo_up": lo_up,
        "lo_must_be_down": fresh,
        "expected_interfaces": expected if not fresh else [],
        "unexpected": sorted(seen - allowed),
        "missing": sorted(allowed - seen),
    }
    if fresh and expected:
        ev["expected_interfaces_ignored"] = expected
    ok = not ev["unexpected"] and not ev["missing"] and (lo_up is False or not fresh)
    return ok, ev


def prove(ctx):
    port = _free_host_port()
    res, host = base.held(_inside, _host_look, args=(port, not ctx.target.fresh), **ctx.options_for(TYPE))
    value = base.require_ok(res, "network probe")
    if host is None:
        raise base.ProbeFailed(res, "network probe never reached its rendezvous")
    host.update(value)
    ok1, ev1 = judge_links(host["interfaces"], host["lo_up"], ctx.target.fresh, ctx.options.get("expected_interfaces"))
    ev1.update(inside_inode=host["inside_inode"], host_inode=host["host_inode"])
    reason1 = None
    if ev1["unexpected"] or ev1["missing"]:
        reason1 = "links inside %s; unexpected %s, missing %s (allowed: lo%s)" % (
            ev1["interfaces_inside"],
            ev1["unexpected"],
            ev1["missing"],
            "".join(", " + n for n in ev1["expected_interfaces"]),
        )
    ctx.add(base.check("NS-NET-001", ok1, ev1, reason=None if ok1 else reason1))
    ok2 = (
        bool(host["inside_listeners"])
        and not host["host_listeners_by_inode"]
        and not host["host_listeners_on_port"]
        and host["host_connect"] != "connected"
    )
    ctx.add(
        base.check(
            "NS-NET-002",
            ok2,
            dict(
                (k, host[k])
                for k in (
                    "port",
                    "socket_inode",
                    "inside_listeners",
                    "host_listeners_by_inode",
                    "host_listeners_on_port",
                    "host_connect",
                )
            ),
        )
    )

    tok = base.token(3)
    octet = int(tok[:2], 16)
    name_a, name_b = "nsv%sa" % tok, "nsv%sb" % tok
    addr_a, addr_b = "10.213.%d.1" % octet, "10.213.%d.2" % octet
    opts = ctx.options_for(TYPE, fresh_flags=catalog.CLONE_NEWNET)
    opts.pop("join", None)
    if ctx.rootless and not opts["unshare"] & catalog.CLONE_NEWUSER:
        opts["unshare"] |= catalog.CLONE_NEWUSER
        opts["uid_map"], opts["gid_map"] = ctx.self_map()
    opts["unshare"] |= catalog.CLONE_NEWNET
    vres = base.run_probe(
        _veth_round_trip, args=(name_a, name_b, addr_a, addr_b, 40000 + octet, min(ctx.timeout / 2, 5.0)), **opts
    )
    ev = base.require_ok(vres, "veth probe")
    host_links = interfaces()
    ev["left_on_host"] = [n for n in host_links if n in (name_a, name_b)]
    ok3 = (
        ev.get("reply") == "pong:" + ev.get("sent", "?")
        and ev.get("received") == ev.get("sent")
        and not ev["left_on_host"]
        and ev.get("ns_a_inode") != ev.get("ns_b_inode")
    )
    ctx.add(base.check("NS-NET-003", ok3, ev))
