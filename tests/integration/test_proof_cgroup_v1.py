"""NS-CGROUP-001 on cgroup v1 hierarchies of this real kernel (issue 12). This host is hybrid (v1 controllers and
cgroup2 at /sys/fs/cgroup/unified); a pure v1 host is SIMULATED by hiding the cgroup2 mount from the proof's
mountinfo (the tests' names say so): the proof then makes its scratch cgroup in a real v1 hierarchy, moves into
it, unshares a real cgroup namespace and remounts that hierarchy inside. The same proof on a real pure v1 kernel
is the molecule guest nsv-cgv1 (molecule/default/vars/expectations.yml). Every test removes its cgroups."""

import os

import pytest

from ansible.module_utils.nsverify import probe, procfs, proofs
from ansible.module_utils.nsverify.proofs import base
from ansible.module_utils.nsverify.proofs import cgroup as cgroup_proof

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating a cgroup in a v1 hierarchy needs root")
REAL_MOUNTINFO = procfs.read_mountinfo
V1 = [m["mount_point"] for m in REAL_MOUNTINFO() if m["fstype"] == "cgroup" and m["root"] == "/"]


def _leftovers():
    return sorted(
        os.path.join(mp, n)
        for mp in V1 + [cgroup_proof.cgroup2_mount(REAL_MOUNTINFO()) or "/nonexistent"]
        if os.path.isdir(mp)
        for n in os.listdir(mp)
        if n.startswith("nsv-proof-")
    )


@pytest.fixture
def pure_v1_view(monkeypatch):
    """The proof sees this host's mountinfo without its cgroup2 mount, as on a pure v1 host."""
    if not cgroup_proof.v1_mount(REAL_MOUNTINFO()):
        pytest.skip("this host has no usable cgroup v1 hierarchy")
    before = _leftovers()
    monkeypatch.setattr(
        base, "read_mountinfo", lambda *a, **k: [m for m in REAL_MOUNTINFO(*a, **k) if m["fstype"] != "cgroup2"]
    )
    yield
    assert _leftovers() == before


def _evidence(res):
    return res["checks"][0]["evidence"]


def test_simulated_pure_v1_view_proves_on_a_real_v1_hierarchy(pure_v1_view):
    res = proofs.run(["cgroup"])["results"]["cgroup"]
    ev = _evidence(res)
    assert res["status"] == "passed", res
    assert ev["scratch_version"] == 1 and os.path.dirname(ev["cgroup_created"]) in V1
    name = os.path.basename(ev["cgroup_created"])
    mine = [k for k, p in ev["host_view"].items() if p == "/" + name]
    assert len(mine) == 1 and mine[0] in ev["witness_hierarchies"] and ev["inside_view"][mine[0]] == "/"
    assert all(p == "/" for p in ev["inside_view"].values())
    view = ev["mount_view"]
    assert view["fstype"] == "cgroup" and view["shown"] is True, view
    # the hierarchy mounted inside is the scratch cgroup, holding the probe; the host's mount reads /.. inside
    assert view["root"] == "/" and view["inode"] == view["scratch_inode"] != view["hierarchy_root_inode"]
    assert view["inherited_root"] == "/.." and len(view["procs"]) == 1


def test_simulated_pure_v1_view_a_shared_cgroup_namespace_fails_the_mount_view(pure_v1_view):
    """The mount check can fail: moved into the scratch cgroup but left in the host's cgroup namespace, the
    hierarchy mounted by the probe is rooted at the hierarchy's root, not at the scratch cgroup."""
    scratch, _ = cgroup_proof.scratch_cgroup(procfs.read_cgroup("self"))
    spec = {k: scratch[k] for k in ("mount_point", "fstype", "options")}

    def moved_but_shared(procs, spec):
        with open(procs, "w") as fh:
            fh.write("0\n")
        return cgroup_proof.mount_view(spec)

    try:
        view = probe.run_checked(moved_but_shared, scratch["procs"], spec, unshare=0)
        host = {"mount_view": view, "scratch_inode": os.stat(scratch["path"]).st_ino}
        host["hierarchy_root_inode"] = os.stat(scratch["mount_point"]).st_ino
    finally:
        cgroup_proof.remove_cgroup(scratch["path"])
    shown, reason = cgroup_proof.judge_mount_view(host)
    assert shown is False and "at the hierarchy's root" in reason, (view, reason)
    assert view["root"] == "/" and view["inherited_root"] == "/"  # no namespace: nothing reads as /..


def test_simulated_pure_v1_view_joined_host_namespace_is_caught(pure_v1_view):
    res = proofs.run_shared_twin(["cgroup"])["results"]["cgroup"]
    assert res["status"] == "failed", res
    assert "hides nothing" in res["checks"][0]["reason"]


def test_hybrid_host_remounts_cgroup2_inside_rooted_at_the_scratch():
    before = _leftovers()
    ev = _evidence(proofs.run(["cgroup"])["results"]["cgroup"])
    assert _leftovers() == before
    if ev["scratch_version"] != 2:
        pytest.skip("no cgroup2 mount here")
    view = ev["mount_view"]
    assert view["fstype"] == "cgroup2" and view["shown"] is True and view["inherited_root"] == "/..", view
