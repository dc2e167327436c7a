"""Kernel release parsing, comparison and config reading, on strings captured from real distributions."""

import gzip

import pytest

from ansible.module_utils.nsverify import kernel

REAL_RELEASES = [
    # (uname -r as printed on the distribution, (major, minor, patch), suffix)
    ("3.10.0-1160.el7.x86_64", (3, 10, 0), "-1160.el7.x86_64"),  # RHEL/CentOS 7.9
    ("2.6.32-754.el6.x86_64", (2, 6, 32), "-754.el6.x86_64"),  # RHEL/CentOS 6.10
    ("4.4.0-210-generic", (4, 4, 0), "-210-generic"),  # Ubuntu 16.04
    ("4.19.0-25-amd64", (4, 19, 0), "-25-amd64"),  # Debian 10
    ("5.4.0-150-generic", (5, 4, 0), "-150-generic"),  # Ubuntu 20.04
    ("5.10.0-28-amd64", (5, 10, 0), "-28-amd64"),  # Debian 11
    ("5.14.0-362.8.1.el9_3.x86_64", (5, 14, 0), "-362.8.1.el9_3.x86_64"),  # RHEL 9.3
    ("6.1.0-25-amd64", (6, 1, 0), "-25-amd64"),  # Debian 12
    ("6.8.0-1015-aws", (6, 8, 0), "-1015-aws"),  # Ubuntu 24.04 AWS
    ("6.12.48+deb13-amd64", (6, 12, 48), "+deb13-amd64"),  # Debian 13
    ("6.18.44-fc-v657", (6, 18, 44), "-fc-v657"),  # this machine (Firecracker)
    ("5.15.153.1-microsoft-standard-WSL2", (5, 15, 153), ".1-microsoft-standard-WSL2"),  # WSL2, 4 parts
    ("6.6.32", (6, 6, 32), ""),  # vanilla kernel.org build
    ("4.18.0-553.el8_10.x86_64", (4, 18, 0), "-553.el8_10.x86_64"),  # RHEL 8.10
    ("3.13.0-170-generic", (3, 13, 0), "-170-generic"),  # Ubuntu 14.04
    ("5.4.17-2136.330.7.1.el8uek.x86_64", (5, 4, 17), "-2136.330.7.1.el8uek.x86_64"),  # Oracle UEK
]


@pytest.mark.parametrize("release,version,suffix", REAL_RELEASES, ids=[r[0] for r in REAL_RELEASES])
def test_real_release_strings_parse(release, version, suffix):
    parsed = kernel.parse_release(release)
    assert (parsed.major, parsed.minor, parsed.patch) == version
    assert parsed.suffix == suffix and parsed.raw == release
    assert kernel.version_tuple(release) == version


def test_surrounding_whitespace_from_a_file_read_is_tolerated():
    assert kernel.version_tuple("6.1.0-25-amd64\n") == (6, 1, 0)


def test_major_minor_only_means_patch_zero():
    assert kernel.version_tuple("6.9-rc1") == (6, 9, 0)


MALFORMED = ["", "   ", "abc", "6", "6.", "6.x", "linux-6.1", "v6.1.0", "6.1abc", "1.2.3", None, 6.1]


@pytest.mark.parametrize("release", MALFORMED, ids=[repr(r) for r in MALFORMED])
def test_malformed_release_raises_value_error_that_says_what_is_expected(release):
    with pytest.raises(ValueError) as info:
        kernel.parse_release(release)
    assert "release" in str(info.value)


@pytest.mark.parametrize(
    "release,version,expected",
    [
        ("5.4.0-150-generic", (5, 6, 0), False),
        ("5.6.0", (5, 6, 0), True),
        ("5.10.0-28-amd64", (5, 6, 0), True),  # 10 > 6 numerically, not as text
        ("4.19.0-25-amd64", (4, 6, 0), True),
        ("4.4.0-210-generic", (4, 6, 0), False),
        ("3.10.0-1160.el7.x86_64", (3, 8, 0), True),
        ("2.6.32-754.el6.x86_64", (2, 6, 29), True),
        ("2.6.32-754.el6.x86_64", (3, 8, 0), False),
        ("6.12.48+deb13-amd64", (6, 12, 48), True),
        ("6.12.48+deb13-amd64", (6, 12, 49), False),
    ],
    ids=lambda v: str(v),
)
def test_at_least_compares_numerically(release, version, expected):
    assert kernel.at_least(release, version) is expected


def test_at_least_accepts_a_parsed_release():
    assert kernel.at_least(kernel.parse_release("5.8.0"), (5, 8, 0))


CONFIG_TEXT = """\
#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.1.0 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT="gcc (Debian 12.2.0-14) 12.2.0"
CONFIG_NAMESPACES=y
CONFIG_UTS_NS=y
# CONFIG_TIME_NS is not set
CONFIG_IPC_NS=y
CONFIG_USER_NS=y
CONFIG_PID_NS=y
CONFIG_NET_NS=y
CONFIG_CGROUPS=y
CONFIG_NR_CPUS=8192
"""


@pytest.mark.parametrize(
    "option,value,line",
    [
        ("CONFIG_UTS_NS", "y", "CONFIG_UTS_NS=y"),
        ("CONFIG_TIME_NS", "n", "# CONFIG_TIME_NS is not set"),
        ("CONFIG_NR_CPUS", "8192", "CONFIG_NR_CPUS=8192"),
        (
            "CONFIG_CC_VERSION_TEXT",
            "gcc (Debian 12.2.0-14) 12.2.0",
            'CONFIG_CC_VERSION_TEXT=gcc (Debian 12.2.0-14) 12.2.0',
        ),
    ],
    ids=["set", "unset", "number", "quoted-string"],
)
def test_parse_config_and_config_line(option, value, line):
    options = kernel.parse_config(CONFIG_TEXT)
    assert options[option] == value
    assert kernel.config_line(options, option) == line


def test_config_line_is_none_for_absent_option_or_no_option():
    options = kernel.parse_config(CONFIG_TEXT)
    assert kernel.config_line(options, "CONFIG_DOES_NOT_EXIST") is None
    assert kernel.config_line(options, None) is None
    assert "# Linux/x86" not in str(options)


def test_read_config_prefers_proc_config_gz_over_boot(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "boot").mkdir()
    with gzip.open(tmp_path / "proc/config.gz", "wt") as fh:
        fh.write("CONFIG_TIME_NS=y\n")
    (tmp_path / "boot/config-6.1.0-25-amd64").write_text("# CONFIG_TIME_NS is not set\n")
    path, options = kernel.read_config("6.1.0-25-amd64", proc=str(tmp_path / "proc"), boot=str(tmp_path / "boot"))
    assert path.endswith("proc/config.gz") and options == {"CONFIG_TIME_NS": "y"}


def test_read_config_falls_back_to_boot_config_of_that_release(tmp_path):
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot/config-6.1.0-25-amd64").write_text("# CONFIG_TIME_NS is not set\n")
    (tmp_path / "boot/config-5.10.0-28-amd64").write_text("CONFIG_TIME_NS=y\n")
    path, options = kernel.read_config("6.1.0-25-amd64", proc=str(tmp_path / "proc"), boot=str(tmp_path / "boot"))
    assert path.endswith("config-6.1.0-25-amd64") and options == {"CONFIG_TIME_NS": "n"}


def test_read_config_without_any_config_returns_none(tmp_path):
    assert kernel.read_config("6.1.0-25-amd64", proc=str(tmp_path), boot=str(tmp_path)) == (None, {})


def test_truncated_config_gz_is_skipped(tmp_path):
    (tmp_path / "config.gz").write_bytes(gzip.compress(b"CONFIG_USER_NS=y\n")[:10])
    assert kernel.read_config("6.1.0", proc=str(tmp_path), boot=str(tmp_path / "none")) == (None, {})
