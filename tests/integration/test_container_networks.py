"""Container networks (issue 10): network=auto gives each container its own /30, an explicit /30 that
overlaps a running container's is refused, and a start whose veth host name is another container's link
fails without touching that link. nsverify_report refuses a basename that leaves dest."""

import ipaddress
import os

import busybox_container
import nsverify_report
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import container

SUFFIX = "%d" % (os.getpid() % 100000)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture()
def names():
    made = ["nw%s-%s" % (SUFFIX, k) for k in "abcd"]
    yield made
    for n in made:
        container.remove(n)
        assert container.leftovers(n) == {}


def start(name, rootfs_path, **extra):
    return run_module_main(busybox_container, dict({"name": name, "rootfs": rootfs_path, "veth": True}, **extra))


def test_auto_networks_differ_and_overlaps_are_refused(names, rootfs_path):
    a, b, c, d = names
    first = start(a, rootfs_path)
    second = start(b, rootfs_path)
    assert not first.get("failed") and not second.get("failed"), (first, second)
    net_a, net_b = first["container"]["veth"]["host_address"], second["container"]["veth"]["host_address"]
    assert net_a != net_b
    again = start(a, rootfs_path)  # a rerun keeps its network: same config, nothing to do
    assert not again["changed"] and again["container"]["veth"]["host_address"] == net_a

    network = str(ipaddress.ip_interface(net_a).network)
    res = start(c, rootfs_path, network=network)
    assert res["failed"] and "overlaps container %s" % a in res["msg"], res
    assert container.leftovers(c) == {}

    host_link = first["container"]["veth"]["host"]
    res = start(d, rootfs_path, veth_host_name=host_link)
    assert res["failed"] and "veth host name %s already exists" % host_link in res["msg"], res
    assert container.link_exists(host_link), "the failed start deleted another container's interface"
    assert container.leftovers(d) == {}
    assert container.status(a)["running"]


@pytest.mark.parametrize("basename", ["../../x", "a/b", "..", ""])
def test_report_basename_must_stay_inside_dest(tmp_path, capsys, basename):
    from ansible.module_utils.testing import patch_module_args

    args = {"hosts": {}, "dest": str(tmp_path / "r"), "basename": basename, "_ansible_check_mode": False}
    with patch_module_args(args), pytest.raises(SystemExit):
        nsverify_report.main()
    out = capsys.readouterr().out
    assert '"failed": true' in out and "plain file name" in out and "Traceback" not in out
    assert not (tmp_path / "r").exists() and not (tmp_path.parent / "x.json").exists()
