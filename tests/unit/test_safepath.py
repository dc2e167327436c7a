"""safepath: links planted in a root (a container's upper layer) that a naive open() would follow out of it,
with both resolvers. Everything lives in tmp dirs made here: "host" is a directory outside the root standing
for the host's /etc."""

import os

import pytest

from ansible.module_utils.nsverify import safepath


def has_openat2():
    return safepath.default_method() == "openat2"


METHODS = [
    "walk",
    pytest.param("openat2", marks=pytest.mark.skipif(not has_openat2(), reason="kernel without openat2 (< 5.6)")),
]


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    host = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    host.mkdir()
    (host / "hostname").write_text("the-host\n")
    return root, host


def host_untouched(host):
    return sorted(os.listdir(host)) == ["hostname"] and (host / "hostname").read_text() == "the-host\n"


@pytest.mark.parametrize("method", METHODS)
def test_plain_write_and_rewrite(tree, method):
    root, _ = tree
    assert safepath.write_file(str(root), "etc/hostname", "box\n", method=method) is True
    assert (root / "etc/hostname").read_text() == "box\n"
    assert oct((root / "etc/hostname").stat().st_mode & 0o777) == "0o644"
    assert safepath.write_file(str(root), "etc/hostname", "box\n", method=method) is False
    assert safepath.write_file(str(root), "/etc/hostname", "box2\n", method=method) is True
    assert sorted(os.listdir(root / "etc")) == ["hostname"]  # no temporary file left


@pytest.mark.parametrize("method", METHODS)
def test_directory_link_to_a_host_directory_is_not_followed(tree, method):
    root, host = tree
    (root / "etc").rmdir()
    (root / "etc").symlink_to(host)  # rm -rf /etc && ln -s /some/host/dir /etc, inside
    assert os.path.realpath(root / "etc/hostname") == str(host / "hostname")  # where a naive open would write
    with pytest.raises(OSError, match="cannot write etc/hostname inside .*No such file.*etc -> /"):
        safepath.write_file(str(root), "etc/hostname", "box\n", method=method)
    assert host_untouched(host)


@pytest.mark.parametrize("method", METHODS)
def test_an_absolute_link_resolves_from_the_root(tree, method):
    root, host = tree
    (root / "etc").rmdir()
    (root / "etc").symlink_to(host)
    twin = root / str(host).lstrip("/")  # the same path, inside the root: where the container would see it
    twin.mkdir(parents=True)
    assert safepath.write_file(str(root), "etc/hostname", "box\n", method=method) is True
    assert (twin / "hostname").read_text() == "box\n"
    assert host_untouched(host)


@pytest.mark.parametrize("method", METHODS)
def test_file_link_to_a_host_file_is_replaced(tree, method):
    root, host = tree
    (root / "etc/hostname").symlink_to(host / "hostname")  # ln -sf /etc/hostname /etc/hostname style
    assert safepath.write_file(str(root), "etc/hostname", "box\n", method=method) is True
    assert not (root / "etc/hostname").is_symlink()
    assert (root / "etc/hostname").read_text() == "box\n"
    assert host_untouched(host)


@pytest.mark.parametrize("method", METHODS)
def test_relative_dotdot_link_stops_at_the_root(tree, method):
    root, host = tree
    (root / "etc").rmdir()
    (root / "etc").symlink_to("../../../../../../../../" + str(host).lstrip("/"))
    with pytest.raises(OSError):
        safepath.write_file(str(root), "etc/hostname", "box\n", method=method)
    assert host_untouched(host)
    (root / "etc").unlink()
    (root / "etc").symlink_to("../../../real-etc")  # '..' at the root is the root: this is root/real-etc
    (root / "real-etc").mkdir()
    safepath.write_file(str(root), "etc/hosts", "127.0.0.1 box\n", method=method)
    assert (root / "real-etc/hosts").read_text() == "127.0.0.1 box\n"


@pytest.mark.parametrize("method", METHODS)
def test_link_through_a_magic_link_stays_inside(tree, method):
    root, host = tree
    (root / "etc").rmdir()
    (root / "etc").symlink_to("/proc/self/cwd")  # host's /proc in a naive open: the writer's own cwd
    with pytest.raises(OSError):
        safepath.write_file(str(root), "etc/hostname", "box\n", method=method)
    assert host_untouched(host)


@pytest.mark.parametrize("method", METHODS)
def test_link_loop_is_an_error_not_a_hang(tree, method):
    root, _ = tree
    (root / "etc").rmdir()
    (root / "etc").symlink_to("loop")
    (root / "loop").symlink_to("etc")
    with pytest.raises(OSError, match="Too many levels"):
        safepath.write_file(str(root), "etc/hostname", "box\n", method=method)


@pytest.mark.parametrize("method", METHODS)
def test_a_directory_in_place_of_the_file_is_refused(tree, method):
    root, _ = tree
    (root / "etc/hostname").mkdir()
    with pytest.raises(safepath.UnsafePath, match="is a directory"):
        safepath.write_file(str(root), "etc/hostname", "box\n", method=method)


def test_root_that_is_the_hosts_root_is_refused(tmp_path):
    with pytest.raises(safepath.UnsafePath, match="resolves to the host's /"):
        safepath.check_root("/")
    (tmp_path / "slash").symlink_to("/")
    with pytest.raises(safepath.UnsafePath, match="resolves to the host's /"):
        safepath.write_file(str(tmp_path / "slash"), "etc/hostname", "x")
    with pytest.raises(safepath.UnsafePath):
        safepath.check_root(str(tmp_path / "slash") + "/./")


def test_root_outside_the_base_is_refused(tmp_path):
    base = tmp_path / "images"
    (base / "rootfs").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (base / "sneaky").symlink_to(tmp_path / "elsewhere")
    assert safepath.check_root(str(base / "rootfs"), base=str(base)) == str(base / "rootfs")
    with pytest.raises(safepath.UnsafePath, match="outside"):
        safepath.check_root(str(base / "sneaky"), base=str(base))
    with pytest.raises(safepath.UnsafePath, match="outside"):
        safepath.check_root(str(tmp_path / "images-other"), base=str(base))  # a prefix is not a parent


@pytest.mark.parametrize("rel", ["", "/", "../etc/hostname", "etc/../../x", "etc/host\0name"])
def test_bad_relative_paths_are_refused(tmp_path, rel):
    with pytest.raises(safepath.UnsafePath, match="must name a file inside the root"):
        safepath.write_file(str(tmp_path), rel, "x")


def test_unknown_method_is_refused(tmp_path):
    (tmp_path / "etc").mkdir()
    with pytest.raises(ValueError, match="must be one of openat2, walk"):
        safepath.write_file(str(tmp_path), "etc/x", "x", method="naive")


@pytest.mark.parametrize("method", METHODS)
def test_an_executable_is_found_through_links_inside_the_root(tree, method):
    root, host = tree
    (root / "bin").mkdir()
    (root / "bin/busybox").write_text("")
    (root / "bin/busybox").chmod(0o755)
    (root / "bin/sh").symlink_to("busybox")
    (root / "sbin").symlink_to("/bin")  # absolute: from the root, not from the host's /
    assert safepath.check_executable(str(root), "/bin/sh", method=method) is None
    assert safepath.check_executable(str(root), "/sbin/sh", method=method) is None


@pytest.mark.parametrize("method", METHODS)
def test_a_link_to_a_host_executable_is_not_found(tree, method):
    root, host = tree
    (host / "tool").write_text("")
    (host / "tool").chmod(0o755)
    (root / "etc/tool").symlink_to(host / "tool")  # resolves to root/<host path>, which does not exist
    with pytest.raises(safepath.UnsafePath, match="/etc/tool: not found in the container's root"):
        safepath.check_executable(str(root), "/etc/tool", method=method)


@pytest.mark.parametrize(
    "setup,path,words",
    [
        (lambda r: (r / "etc/hostname").write_text("x"), "/etc/hostname", "is not executable \\(mode 0644\\)"),
        (lambda r: None, "/etc", "is not a regular file"),
        (lambda r: (r / "etc/f").write_text("x"), "/etc/f/x", "Not a directory"),
        (lambda r: None, "/nothing", "not found"),
    ],
    ids=["no-x-bit", "directory", "under-a-file", "absent"],
)
@pytest.mark.parametrize("method", METHODS)
def test_what_cannot_be_executed_is_refused_with_its_path(tree, method, setup, path, words):
    root, _ = tree
    setup(root)
    with pytest.raises(safepath.UnsafePath, match=path + ".*" + words):
        safepath.check_executable(str(root), path, method=method)


@pytest.mark.parametrize("method", METHODS)
def test_a_mount_point_is_a_directory_of_the_root_made_when_absent(tree, method):
    root, _ = tree
    fd = safepath.open_mount_point(str(root), "proc", 0o555, method=method)
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(root / "proc"))
        assert oct((root / "proc").stat().st_mode & 0o777) == "0o555"
    finally:
        os.close(fd)


@pytest.mark.parametrize("target", ["host", "../../..", "/etc"])
@pytest.mark.parametrize("method", METHODS)
def test_a_link_at_a_mount_point_is_refused(tree, method, target):
    root, host = tree
    (root / "proc").symlink_to(str(host) if target == "host" else target)
    with pytest.raises(safepath.UnsafePath, match="/proc in the container's root is a symbolic link"):
        safepath.open_mount_point(str(root), "proc", method=method)
    (root / "dev").write_text("")
    with pytest.raises(safepath.UnsafePath, match="/dev in the container's root is not a directory"):
        safepath.open_mount_point(str(root), "dev", method=method)
    assert host_untouched(host)
