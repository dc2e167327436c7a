"""The busybox_rootfs role calls the package manager only when the build says the binary needs it.

The build runs first; a usable busybox (this host has busybox-static) means no package task at all. A
binary the build calls unusable is what the package would fix: with busybox_rootfs_install_package the
role installs the package and builds again (which then names the real cause), without it the first build
fails with that cause. The rootfs base is a scratch directory of the test; the play stops in the rootfs
role or runs in check mode, so no container is started.
"""

import os
import re
from pathlib import Path

import pytest
from conftest import run_playbook

ROOT = Path(__file__).resolve().parents[2]
NAME = "nsvsprf%d" % (os.getpid() % 100000)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the rootfs role's package task needs root")


def container_play(tmp, *extra):
    base = ["-e", "busybox_container_name=%s" % NAME, "-e", "busybox_rootfs_base=%s" % (tmp / "base")]
    return run_playbook(tmp, "container.yml", *base, *extra, timeout=300)


def outcome(stdout, task):
    """The host's outcome under a task's banner: ok, changed, skipping, fatal (ansible-core 2.19 prints
    an [ERROR] block before the fatal line)."""
    after = stdout[stdout.index("TASK [busybox_rootfs : %s]" % task) :].split("\n")[1:]
    return re.search(r"^(ok|changed|skipping|fatal): \[", "\n".join(after), re.M).group(1)


def test_usable_binary_skips_the_package_task(tmp_path):
    res = container_play(tmp_path, "--check")
    assert res.returncode == 0, res.stdout[-3000:]
    assert outcome(res.stdout, "Lay out the rootfs, copy busybox and link its applets") == "changed"
    assert outcome(res.stdout, "Install the distribution's statically linked busybox") == "skipping"
    assert not (tmp_path / "base").exists()  # check mode


def test_unusable_binary_installs_the_package_then_names_the_cause(tmp_path):
    res = container_play(tmp_path, "-e", "busybox_rootfs_binary=/nonexistent-nsvsp")
    assert res.returncode != 0
    assert outcome(res.stdout, "Lay out the rootfs, copy busybox and link its applets") == "ok"  # not the end
    assert outcome(res.stdout, "Install the distribution's statically linked busybox") in ("ok", "changed")
    assert outcome(res.stdout, "Lay out the rootfs with the installed busybox") == "fatal"
    assert re.search(r"busybox binary /nonexistent-nsvsp does not exist", res.stdout), res.stdout[-3000:]
    assert "Make sure the container is" not in res.stdout and not (tmp_path / "base").exists()


def test_unusable_binary_without_install_fails_at_the_first_build(tmp_path):
    res = container_play(
        tmp_path, "-e", "busybox_rootfs_binary=/nonexistent-nsvsp", "-e", "busybox_rootfs_install_package=false"
    )
    assert res.returncode != 0
    assert outcome(res.stdout, "Lay out the rootfs, copy busybox and link its applets") == "fatal"
    assert "busybox binary /nonexistent-nsvsp does not exist" in res.stdout
    assert "Install the distribution's statically linked busybox" not in res.stdout
