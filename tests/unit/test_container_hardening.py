"""The container's config for issue 10: the rootfs is never the host's / nor outside the image directory, and
the seccomp option (stored only when it is not the default, so that older containers keep their config hash)."""

import pytest

from ansible.module_utils.nsverify import container


def normalize(rootfs_path="/nonexistent", **options):
    return container.normalize("unit", rootfs_path, require_rootfs=False, **options)


@pytest.mark.parametrize("path", ["/", "//", "/./", "/usr/.."])
def test_rootfs_that_is_the_host_s_root_is_refused(path):
    with pytest.raises(container.ContainerError, match="resolves to the host's /.*busybox_rootfs returned$"):
        normalize(path)


def test_link_to_the_host_s_root_is_refused(tmp_path):
    (tmp_path / "root").symlink_to("/")
    with pytest.raises(container.ContainerError, match="resolves to the host's /"):
        normalize(str(tmp_path / "root"), rootfs_base=str(tmp_path))


def test_rootfs_outside_the_base_is_refused(tmp_path):
    base = tmp_path / "images"
    base.mkdir()
    (tmp_path / "other").mkdir()
    (base / "link-out").symlink_to(tmp_path / "other")
    # inside the base (not built yet, as in check mode): accepted
    assert normalize(str(base / "busybox-1"), rootfs_base=str(base))["rootfs"] == str(base / "busybox-1")
    for path in (tmp_path / "other", base / "link-out", tmp_path / "images2"):
        with pytest.raises(container.ContainerError, match="outside .*set rootfs_base"):
            normalize(str(path), rootfs_base=str(base))


def test_seccomp_option_in_the_config():
    default = normalize()
    assert "seccomp" not in default  # the config hash of containers started before the option stays
    assert container.config_hash(normalize(seccomp="default")) == container.config_hash(default)
    unconfined = normalize(seccomp="unconfined")
    assert unconfined["seccomp"] == "unconfined"
    assert container.config_hash(unconfined) != container.config_hash(default)
    with pytest.raises(container.ContainerError, match="seccomp 'strict' must be one of default, unconfined"):
        normalize(seccomp="strict")
