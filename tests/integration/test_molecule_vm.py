"""The molecule kernel matrix's machinery without booting a VM (molecule/shared/nsv_vm.py, scenario data).

Booting the matrix is `molecule test` (minutes); these check in seconds what a wrong edit would break:
the scenario data, the kernel choice from the real apt lists, the cache keys, and that destroy signals
nothing but its own qemu.
"""

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ansible.module_utils.nsverify import catalog

ROOT = Path(__file__).resolve().parents[2]
MOLECULE = ROOT / "molecule"


def _load_nsv_vm():
    spec = importlib.util.spec_from_file_location("nsv_vm", MOLECULE / "shared" / "nsv_vm.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


nsv_vm = _load_nsv_vm()


def _platforms():
    # molecule reads a doubled dollar sign as one
    text = (MOLECULE / "default" / "molecule.yml").read_text().replace("$$", "$")
    return yaml.safe_load(text)["platforms"]


def _expectations(scenario):
    return yaml.safe_load((MOLECULE / scenario / "vars" / "expectations.yml").read_text())


@pytest.mark.parametrize("scenario", ["default", "local"], ids=["default", "local"])
def test_expectations_name_every_type_with_a_known_verdict(scenario):
    data = _expectations(scenario)
    assert sorted(data["nsv_expected_verdicts"]) == sorted(catalog.TYPE_NAMES)
    unprivileged = list(data.get("nsv_expected_unprivileged_overrides", {}).values())
    for overrides in [data["nsv_expected_verdicts"]] + list(data["nsv_expected_overrides"].values()) + unprivileged:
        assert set(overrides.values()) <= set(catalog.VERDICTS)
        assert set(overrides) <= set(catalog.TYPE_NAMES)


def test_expectation_overrides_name_real_instances():
    names = {p["name"] for p in _platforms()}
    data = _expectations("default")
    for key in (
        "nsv_expected_overrides",
        "nsv_expected_unprivileged_overrides",
        "nsv_expected_evidence",
        "nsv_expected_cgroup_layout_overrides",
        "nsv_testinfra_ignore",
    ):
        assert set(data.get(key, {})) <= names, key
    for runs in data.get("nsv_expected_evidence", {}).values():
        assert set(runs) <= {"root", "unprivileged"}
        for types in runs.values():
            assert set(types) <= set(catalog.TYPE_NAMES)
    for paths in data["nsv_testinfra_ignore"].values():
        # a file, or one test of it (path::name)
        assert all((ROOT / p.split("::")[0]).exists() for p in paths), paths


def test_restricted_instance_limits_exactly_the_types_it_expects_limit_zero():
    restricted = [p for p in _platforms() if "sysctl.user.max_" in p.get("nsv_cmdline", "")]
    assert restricted, "the matrix needs an instance whose namespaces are limited at boot"
    overrides = _expectations("default")["nsv_expected_overrides"]
    for p in restricted:
        limited = {m.group(1) for m in re.finditer(r"sysctl\.user\.max_(\w+)_namespaces=0", p["nsv_cmdline"])}
        assert limited == {t for t, v in overrides[p["name"]].items() if v == "limit-zero"}


def test_matrix_has_each_real_case_the_issue_names():
    """5.10 from bullseye, user-mode Linux (time not-built), Debian's userns switch (unprivileged
    denied) and pure cgroup v1 each have an instance and the expectation that proves it."""
    platforms = {p["name"]: p for p in _platforms()}
    data = _expectations("default")
    assert any(
        p["nsv_kernel"].get("suite") == "bullseye" and "5\\.10" in p["nsv_kernel"]["match"] for p in platforms.values()
    )
    uml = [n for n, p in platforms.items() if p.get("nsv_kind") == "uml"]
    assert uml and all(data["nsv_expected_overrides"][n]["time"] == "not-built" for n in uml)
    switch = [n for n, p in platforms.items() if "unprivileged_userns_clone=0" in p.get("nsv_cmdline", "")]
    assert switch and all(data["nsv_expected_unprivileged_overrides"][n]["user"] == "denied" for n in switch)
    v1 = [n for n, p in platforms.items() if p.get("nsv_cgroup") == "v1"]
    assert v1 and all(data["nsv_expected_cgroup_layout_overrides"][n] == "v1" for n in v1)


@pytest.mark.parametrize(
    "names,expected",
    [
        (
            ["linux-image-6.12.9+deb12-cloud-amd64", "linux-image-6.12.100+deb12-cloud-amd64"],
            "linux-image-6.12.100+deb12-cloud-amd64",
        ),
        (
            ["linux-image-6.1.0-9-cloud-amd64", "linux-image-6.1.0-56-cloud-amd64", "linux-image-6.1.0-10-cloud-amd64"],
            "linux-image-6.1.0-56-cloud-amd64",
        ),
        (
            ["linux-image-6.1.0-56-cloud-amd64", "linux-image-6.12.1+deb12-cloud-amd64"],
            "linux-image-6.12.1+deb12-cloud-amd64",
        ),
    ],
    ids=["patch-numeric-not-lexical", "abi-numeric", "series-beats-abi"],
)
def test_newest_kernel_is_chosen_numerically(names, expected):
    assert max(names, key=nsv_vm._version_key) == expected


@pytest.mark.parametrize("platform", _platforms(), ids=lambda p: p["name"])
def test_each_platform_resolves_to_a_package_apt_knows(platform):
    if subprocess.run(["apt-cache", "pkgnames", "linux-image-"], capture_output=True, text=True).stdout.strip() == "":
        pytest.skip("no apt lists on this machine (run apt-get update)")
    package, version = nsv_vm.resolve_kernel(platform["nsv_kernel"])
    if "match" in platform["nsv_kernel"]:
        assert re.search(platform["nsv_kernel"]["match"], package)
    else:
        assert package == platform["nsv_kernel"]["package"]
    assert version


def test_other_suites_get_their_own_sources_and_this_machines_stay_untouched():
    text = nsv_vm.suite_sources("bullseye", "http://mirror.example/debian", "http://mirror.example/debian-security")
    assert [line.split()[-2] for line in text.splitlines()] == ["bullseye", "bullseye-updates", "bullseye-security"]
    assert nsv_vm.apt_options(None) == [] and nsv_vm.apt_options(nsv_vm.SUITE) == []


def test_kernel_cache_key_follows_the_recipe(monkeypatch):
    before = nsv_vm.kernel_recipe()
    monkeypatch.setattr(nsv_vm, "MODULES", nsv_vm.MODULES + ("tun",))
    assert nsv_vm.kernel_recipe() != before


def test_image_cache_key_follows_the_recipe(monkeypatch):
    before = nsv_vm.image_recipe("http://mirror.example/debian")
    assert nsv_vm.image_recipe("http://other.example/debian") != before
    monkeypatch.setattr(nsv_vm, "IMAGE_PACKAGES", nsv_vm.IMAGE_PACKAGES + ("strace",))
    assert nsv_vm.image_recipe("http://mirror.example/debian") != before


# The mirror debootstrap uses comes from this machine's apt sources (sources.list(5): deb822 `.sources`
# stanzas and one-line `.list` entries); the samples below use example hosts only.
DEB822_MAIN = """\
Types: deb
# a snapshot would go here
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""
DEB822_SRC_THEN_BIN = """\
Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Types: deb deb-src
URIs: http://bin.example/debian
Suites: bookworm
"""
DEB822_DISABLED = """\
Enabled: no
Types: deb
URIs: http://off.example/debian
Suites: bookworm

Types: deb
URIs: http://on.example/debian/
Suites: bookworm
"""
DEB822_URIS_AND_CONTINUATION = """\
Types: deb
URIs: mirror+file:/etc/apt/mirrors/debian.list
 https://second.example/debian
Suites: trixie
 bookworm
Components: main
"""
ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://opts.example/debian bookworm main contrib
deb http://later.example/debian bookworm main
"""


@pytest.mark.parametrize(
    "files,suite,expected",
    [
        ([("debian.sources", DEB822_MAIN)], "bookworm", "http://mirror.example/debian"),
        ([("debian.sources", DEB822_MAIN)], "bookworm-security", "http://mirror.example/debian-security"),
        ([("debian.sources", DEB822_MAIN)], "trixie", None),
        ([("debian.sources", DEB822_SRC_THEN_BIN)], "bookworm", "http://bin.example/debian"),
        ([("debian.sources", DEB822_DISABLED)], "bookworm", "http://on.example/debian"),
        ([("debian.sources", DEB822_URIS_AND_CONTINUATION)], "bookworm", "https://second.example/debian"),
        ([("sources.list", ONE_LINE)], "bookworm", "http://opts.example/debian"),
        ([("sources.list", "deb http://updates.example/debian bookworm-updates main\n")], "bookworm", None),
        (
            [("sources.list", ""), ("a.list", "deb cdrom:[Debian]/ bookworm main\n"), ("debian.sources", DEB822_MAIN)],
            "bookworm",
            "http://mirror.example/debian",
        ),
        ([("a.list", ONE_LINE), ("debian.sources", DEB822_MAIN)], "bookworm", "http://opts.example/debian"),
        ([("x.sources", "Types: deb\nURIs: file:/srv/debian\nSuites: bookworm\n")], "bookworm", "file:/srv/debian"),
    ],
    ids=[
        "deb822-exact-suite-not-updates",
        "deb822-security-suite",
        "deb822-suite-absent",
        "deb822-source-only-stanza-skipped",
        "deb822-disabled-skipped",
        "deb822-unusable-uri-and-continuations",
        "one-line-options-comment-deb-src",
        "one-line-suite-absent",
        "cdrom-skipped-next-file",
        "first-file-wins",
        "file-uri",
    ],
)
def test_mirror_is_the_first_binary_source_of_the_suite(files, suite, expected):
    assert nsv_vm.mirror_from_sources(suite, files) == expected


def _apt_tree(tmp_path, files):
    (tmp_path / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return str(tmp_path)


def test_apt_sources_are_read_in_apts_order_and_disabled_files_ignored(tmp_path):
    apt_dir = _apt_tree(
        tmp_path,
        {
            "sources.list": "deb http://list.example/debian bookworm main\n",
            "sources.list.d/b.sources": DEB822_MAIN,
            "sources.list.d/a.list": ONE_LINE,
            "sources.list.d/c.sources.disabled": DEB822_MAIN,
        },
    )
    assert [n for n, _ in nsv_vm.apt_source_files(apt_dir)] == ["sources.list", "a.list", "b.sources"]
    assert nsv_vm.debian_mirror(apt_dir=apt_dir, environ={}) == "http://list.example/debian"


def test_mirror_override_wins_over_the_apt_sources(tmp_path):
    apt_dir = _apt_tree(tmp_path, {"sources.list.d/debian.sources": DEB822_MAIN})
    assert (
        nsv_vm.debian_mirror(apt_dir=apt_dir, environ={"NSV_DEBIAN_MIRROR": "http://override.example/d/"})
        == "http://override.example/d"
    )
    assert nsv_vm.debian_mirror(apt_dir=apt_dir, environ={"NSV_DEBIAN_MIRROR": ""}) == "http://mirror.example/debian"


def test_no_mirror_anywhere_fails_with_what_to_do(tmp_path):
    apt_dir = _apt_tree(
        tmp_path, {"sources.list.d/updates.list": "deb http://u.example/debian bookworm-updates main\n"}
    )
    with pytest.raises(SystemExit, match=r"no Debian mirror for bookworm.*NSV_DEBIAN_MIRROR"):
        nsv_vm.debian_mirror(apt_dir=apt_dir, environ={})


def test_this_machine_gives_a_mirror_for_the_guest_suite():
    """The cold-cache build needs one: from the apt sources here, or the override."""
    if not nsv_vm.apt_source_files() and not os.environ.get("NSV_DEBIAN_MIRROR"):
        pytest.skip("no apt sources on this machine")
    assert re.match(r"^(https?|file):", nsv_vm.debian_mirror())


def test_destroy_never_signals_a_process_that_is_not_its_qemu(tmp_path):
    """A pidfile whose PID now belongs to something else (PID reuse) must not get a signal."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        vm_dir = tmp_path / "vms" / "nsv-fake"
        vm_dir.mkdir(parents=True)
        (vm_dir / "qemu.pid").write_text("%d\n" % bystander.pid)
        res = subprocess.run(
            [sys.executable, str(MOLECULE / "shared" / "nsv_vm.py"), "destroy", "--state-dir", str(tmp_path / "vms")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        time.sleep(0.2)
        assert bystander.poll() is None, "destroy signalled a process it did not start"
        assert '"stopped": []' in res.stdout
        assert not (tmp_path / "vms").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_prune_keeps_recent_and_locked_entries_and_removes_stale_ones(tmp_path):
    stale, recent = tmp_path / "stale.img", tmp_path / "recent.img"
    stale.write_text("x")
    recent.write_text("x")
    old = time.time() - (nsv_vm.CACHE_KEEP_DAYS + 1) * 86400
    os.utime(stale, (old, old))
    nsv_vm.prune(str(tmp_path))
    assert not stale.exists() and recent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recent.img"]


def test_molecule_reads_only_keys_namespace_verify_returns():
    """verify.yml and the matrix read the proofs through the module's documented return keys.

    A renamed key (`results` became `proofs`) would otherwise show every proof as "not run"."""
    import namespace_verify

    documented = set(yaml.safe_load(namespace_verify.RETURN))
    used = set()
    for path in (MOLECULE / "shared").rglob("*"):
        if path.suffix in (".yml", ".j2"):
            # verify.yml keeps the registered result of each run as nsv_molecule_proofs_{root,user}
            used |= set(re.findall(r"(?:nsverify_verify_result|nsv_molecule_proofs_\w+?)\.(\w+)", path.read_text()))
    assert "proofs" in used
    assert used <= documented, sorted(used - documented)


UML_CONSOLE_ON_AMX = """Checking PROT_EXEC mmap in /tmp/run...OK
mmapper_init - find_iomem failed
userspace - ptrace set fp regs failed, errno = 14
Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b
"""


@pytest.mark.parametrize("kind,console,left_out", [
    ("uml", UML_CONSOLE_ON_AMX, True),
    ("uml", "Kernel panic - not syncing: VFS: Unable to mount root fs\n", False),
    ("qemu", UML_CONSOLE_ON_AMX, False),
], ids=["uml-fpu-restore-fails", "uml-other-panic", "qemu"])  # fmt: skip
def test_only_uml_s_fpu_restore_failure_leaves_an_instance_out_captured_console(tmp_path, kind, console, left_out):
    """A captured console (the line this project's build machine printed on 2026-12-02): that failure makes the
    instance `unavailable` with the console line as its reason; any other boot failure still fails create."""
    (tmp_path / "console.log").write_text(console)
    vm = {"vm_dir": str(tmp_path), "kind": kind, "release": "6.1.176", "package": "user-mode-linux", "version": "v"}
    reason = nsv_vm.uml_unavailable(vm)
    assert bool(reason) is left_out
    if left_out:
        assert "ptrace set fp regs failed, errno = 14" in reason and "6.1.176" in reason
        entry = nsv_vm.instance_config("nsv-uml", dict(vm, unavailable=reason), "/k")
        assert entry["unavailable"] == reason and "address" not in entry and "port" not in entry
