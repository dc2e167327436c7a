"""container.addresses: network=auto picks a free /30 of the pool; overlaps and foreign links are refused."""

import ipaddress
import json
import os
import select

import pytest

from ansible.module_utils.nsverify.container import addresses, config, state


def record(run_dir, data_dir, name, network, running=False):
    """A container `name` that recorded `network` (config.json; a state.json of this process when running)."""
    _, host, ctr = config.validate.network30(network)
    cfg = {
        "name": name,
        "veth": {"host": "nsv%sh" % name, "container": "nsv%sc" % name, "host_address": host, "container_address": ctr},
    }
    p = state.paths(name, str(run_dir), str(data_dir))
    os.makedirs(p["data"])
    with open(p["config"], "w") as fh:
        json.dump({"config": cfg}, fh)
    if running:
        os.makedirs(p["run"])
        st = state.read_stat(os.getpid())
        with open(p["state"], "w") as fh:
            json.dump({"init_pid": os.getpid(), "init_starttime": st["starttime"], "config": cfg}, fh)


@pytest.fixture()
def dirs(tmp_path, monkeypatch):
    monkeypatch.setattr(addresses, "host_addresses", lambda: [("eth0", ipaddress.ip_interface("192.0.2.2/24"))])
    return tmp_path / "run", tmp_path / "data"


def test_auto_takes_the_first_free_network(dirs):
    assert addresses.allocate("a", "nsvah", *map(str, dirs)) == "10.213.0.0/30"
    record(*dirs, "b", "10.213.0.0/30")  # stopped: reserved for its next start
    record(*dirs, "c", "10.213.0.4/30", running=True)
    assert addresses.allocate("a", "nsvah", *map(str, dirs)) == "10.213.0.8/30"


def test_auto_keeps_the_network_a_container_recorded(dirs):
    record(*dirs, "a", "10.213.0.20/30")
    assert addresses.allocate("a", "nsvah", *map(str, dirs)) == "10.213.0.20/30"


def test_auto_avoids_host_links(dirs, monkeypatch):
    links = [("eth1", ipaddress.ip_interface("10.213.0.1/29")), ("nsvah", ipaddress.ip_interface("10.213.0.9/30"))]
    monkeypatch.setattr(addresses, "host_addresses", lambda: links)
    # eth1 covers .0 and .4; nsvah is the container's own host end and does not count
    assert addresses.allocate("a", "nsvah", *map(str, dirs)) == "10.213.0.8/30"


def test_auto_says_when_the_pool_is_full(dirs, monkeypatch):
    monkeypatch.setattr(addresses, "host_addresses", lambda: [("br0", ipaddress.ip_interface("10.213.0.1/24"))])
    with pytest.raises(config.ContainerError, match="no free /30 left in the pool 10.213.0.0/24"):
        addresses.allocate("a", "nsvah", *map(str, dirs))


def test_preflight_refuses_a_running_containers_network(dirs):
    record(*dirs, "b", "10.213.0.4/30", running=True)
    cfg = {"name": "a", "veth": {"host": "nsvnotalinkh", "host_address": "10.213.0.5/30"}}
    with pytest.raises(config.ContainerError, match=r"overlaps container b \(10.213.0.4/30\).*network=auto"):
        addresses.preflight(cfg, *map(str, dirs))
    cfg["veth"]["host_address"] = "10.213.0.1/30"
    addresses.preflight(cfg, *map(str, dirs))  # a stopped container's network does not block an explicit one


def test_preflight_refuses_an_existing_link(dirs):
    cfg = {"name": "a", "veth": {"host": "lo", "host_address": "10.213.0.1/30"}}
    with pytest.raises(config.ContainerError, match="veth host name lo already exists"):
        addresses.preflight(cfg, *map(str, dirs))


def test_host_addresses_reads_ip():
    links = dict(addresses.host_addresses())
    assert links.get("lo") == ipaddress.ip_interface("127.0.0.1/8")


def test_limits_drift_counts_memory_in_pages(tmp_path):
    from ansible.module_utils.nsverify.container import limits

    mem, pids = tmp_path / "memory.limit_in_bytes", tmp_path / "pids.max"
    mem.write_text("%d\n" % (limits.PAGE * 10))
    pids.write_text("64\n")
    st = {"name": "x", "cgroups": {"limits": {str(mem): str(limits.PAGE * 10 + 5), str(pids): "64"}}}
    assert limits.drift(st) == {}
    pids.write_text("max\n")
    assert limits.drift(st) == {str(pids): {"want": "64", "now": "max"}}
    assert limits.restore(st) == {str(pids): {"want": "64", "now": "max"}} and pids.read_text() == "64"


def auto_config(name, network):
    _, host, ctr = config.validate.network30(network)
    return {"name": name, "veth": {"host": "nsvnot%sh" % name, "host_address": host, "container_address": ctr}}


def test_claim_picks_an_auto_network_again_once_another_start_recorded_it(dirs):
    run, data = map(str, dirs)
    picked = addresses.allocate("a", "nsvnotah", run, data)  # both starts picked .0 before either recorded it
    assert picked == addresses.allocate("b", "nsvnotbh", run, data) == "10.213.0.0/30"
    record(*dirs, "b", "10.213.0.0/30")  # b's start won the lock and wrote its config.json
    cfg = auto_config("a", picked)
    lock = addresses.claim(cfg, run, data)
    try:
        assert os.path.exists(addresses.lock_path(run))
        assert cfg["veth"]["host_address"] == "10.213.0.5/30" and cfg["veth"]["container_address"] == "10.213.0.6/30"
    finally:
        lock.release()
    assert not os.path.exists(addresses.lock_path(run))  # removed by its holder: /run/nsverify stays prunable


def test_claim_leaves_an_explicit_network_as_given(dirs):
    run, data = map(str, dirs)
    record(*dirs, "b", "10.213.0.0/30")  # stopped: an explicit network may overlap it (preflight's rule)
    addresses.PICKED.pop("a", None)
    cfg = auto_config("a", "10.213.0.0/30")
    addresses.claim(cfg, run, data).release()
    assert cfg["veth"]["host_address"] == "10.213.0.1/30"


def test_the_lock_excludes_another_process_until_released(dirs):
    run, _ = map(str, dirs)
    lock = addresses.Lock(addresses.lock_path(run)).acquire()
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # waits for the parent's lock, then says so
        os.close(r)
        os.close(lock.fd)  # the fork's copy would hold the parent's lock (flock: per open file description)
        addresses.Lock(addresses.lock_path(run)).acquire().release()
        os.write(w, b"got")
        os._exit(0)
    os.close(w)
    assert select.select([r], [], [], 0.3)[0] == []  # still waiting while the parent holds it
    lock.release()
    assert os.read(r, 3) == b"got"
    os.waitpid(child, 0)
    os.close(r)
    assert not os.path.exists(addresses.lock_path(run))
