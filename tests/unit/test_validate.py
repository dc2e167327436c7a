"""The validator room: one rule per kind of input, one clear message per bad value."""

import pytest

from ansible.module_utils.nsverify import validate

BAD_NAMES = [
    ("empty", "", "non-empty"),
    ("traversal", "../containers/x", "contains '/'"),
    ("dot-dot", "..", "starts with '.'"),
    ("leading-dash", "-rf", "starts with '-'"),
    ("slash", "a/b", "contains '/'"),
    ("space", "a b", "contains ' '"),
    ("too-long", "x" * 65, "at most 64"),
    ("not-a-string", 7, "non-empty string"),
]


@pytest.mark.parametrize("value,message", [c[1:] for c in BAD_NAMES], ids=[c[0] for c in BAD_NAMES])
def test_bad_names_are_refused_with_the_rule(value, message):
    with pytest.raises(validate.InvalidInput, match=message):
        validate.name(value)


def test_container_names_are_lower_case_and_short():
    assert validate.container_name("box-1") == "box-1"
    with pytest.raises(validate.InvalidInput, match="lower case"):
        validate.container_name("Box")
    with pytest.raises(validate.InvalidInput, match="at most 32"):
        validate.container_name("b" * 33)


@pytest.mark.parametrize("value", ["isolated-box", "a.b.c", "x" * 63, "a1"])
def test_good_hostnames(value):
    assert validate.hostname(value) == value


@pytest.mark.parametrize("value", ["", "-x", "x-", "a..b", "under_score", "x" * 65, "a b", None])
def test_bad_hostnames(value):
    with pytest.raises(validate.InvalidInput):
        validate.hostname(value)


@pytest.mark.parametrize(
    "value,message",
    [("eth0", "must start with 'nsv'"), ("nsv" + "x" * 13, "1 to 15"), ("nsv/x", "only letters"), ("", "1 to 15")],
)
def test_bad_interface_names(value, message):
    with pytest.raises(validate.InvalidInput, match=message):
        validate.ifname(value)


def test_network30_gives_both_ends():
    assert validate.network30("10.213.0.4/30") == ("10.213.0.4/30", "10.213.0.5/30", "10.213.0.6/30")


@pytest.mark.parametrize("value", ["10.213.0.1/30", "10.213.0.0/29", "8.8.8.0/30", "fd00::/126", "nonsense", None])
def test_bad_networks(value):
    with pytest.raises(validate.InvalidInput):
        validate.network30(value)


ID_MAP_CASES = [
    ("dicts", [{"inside": 0, "outside": 100000, "count": 65536}], None),
    ("strings", [{"inside": "0", "outside": "100000", "count": "10"}], None),
    ("lists (deprecated)", [[0, 100000, 65536]], None),
    ("empty", [], "empty"),
    ("missing key", [{"inside": 0, "outside": 1}], "missing count"),
    ("unknown key", [{"inside": 0, "outside": 1, "count": 1, "extra": 2}], "unknown extra"),
    ("zero count", [{"inside": 0, "outside": 1, "count": 0}], "below the minimum 1"),
    ("negative", [{"inside": -1, "outside": 1, "count": 1}], "below the minimum 0"),
    ("word", [{"inside": "abc", "outside": 1, "count": 1}], "must be an integer"),
    ("fraction", [{"inside": 0.5, "outside": 1, "count": 1}], "whole number"),
    ("out of range", [{"inside": 0, "outside": 4294967290, "count": 10}], "out of range"),
    (
        "overlap",
        [{"inside": 0, "outside": 1000, "count": 10}, {"inside": 5, "outside": 5000, "count": 10}],
        "overlap",
    ),
    ("not a line", [[0, 1]], "must be"),
]


@pytest.mark.parametrize("entries,message", [c[1:] for c in ID_MAP_CASES], ids=[c[0] for c in ID_MAP_CASES])
def test_id_maps(entries, message):
    warnings = []
    if message is None:
        out = validate.id_map(entries, "uid_map", release="6.1.0", warnings=warnings)
        assert all(set(e) == {"inside", "outside", "count"} for e in out)
        assert bool(warnings) == isinstance(entries[0], list)
    else:
        with pytest.raises(validate.InvalidInput, match=message):
            validate.id_map(entries, "uid_map", release="6.1.0", warnings=warnings)


def test_id_map_line_limit_follows_the_kernel():
    six = [{"inside": i * 10, "outside": 1000 + i * 10, "count": 10} for i in range(6)]
    assert len(validate.id_map(six, release="4.15.0")) == 6
    with pytest.raises(validate.InvalidInput, match="at most 5"):
        validate.id_map(six, release="4.14.0")


def test_id_map_helpers():
    m = validate.id_map([{"inside": 0, "outside": 100000, "count": 1}])
    assert validate.id_map_lines(m) == [(0, 100000, 1)]
    assert validate.maps_root(m)
    assert not validate.maps_root([{"inside": 1, "outside": 100000, "count": 5}])


CLOCKS = {"monotonic": 1000.0, "boottime": 1200.0}
OFFSET_CASES = [
    ("ok", {"monotonic": 86400}, {"monotonic": 86400}),
    ("string int", {"boottime": "-100"}, {"boottime": -100}),
    ("word", {"monotonic": "abc"}, "must be an integer"),
    ("fraction", {"monotonic": 1.5}, "whole number"),
    ("bool", {"monotonic": True}, "must be an integer"),
    ("before zero", {"monotonic": -2000}, "before zero"),
    ("huge", {"monotonic": 10**18}, "too large"),
    ("unknown clock", {"realtime": 5}, "must be one of monotonic, boottime"),
    ("not a mapping", [5], "must be a mapping"),
]


@pytest.mark.parametrize("offsets,expected", [c[1:] for c in OFFSET_CASES], ids=[c[0] for c in OFFSET_CASES])
def test_time_offsets(offsets, expected):
    if isinstance(expected, dict):
        assert validate.time_offsets(offsets, CLOCKS) == expected
    else:
        with pytest.raises(validate.InvalidInput, match=expected):
            validate.time_offsets(offsets, CLOCKS)


@pytest.mark.parametrize(
    "value,expected",
    [("64M", 64 << 20), ("1g", 1 << 30), (65536, 65536), ("512 KiB", 512 << 10), (None, None)],
)
def test_sizes(value, expected):
    assert validate.size(value) == expected


@pytest.mark.parametrize("value", ["64X", "-1M", "lots", 0, True])
def test_bad_sizes(value):
    with pytest.raises(validate.InvalidInput):
        validate.size(value)


@pytest.mark.parametrize("value", ["nan", "inf", float("nan"), "half", 0.001, True])
def test_bad_cpus(value):
    with pytest.raises(validate.InvalidInput):
        validate.cpus(value)


def test_cpus():
    assert validate.cpus("0.5") == 0.5


@pytest.mark.parametrize("value", ["../../x", "a/b", "..", ".", "", None])
def test_output_basenames_stay_inside_dest(value):
    with pytest.raises(validate.InvalidInput):
        validate.basename(value)


def test_path_inside(tmp_path):
    assert validate.path_inside(str(tmp_path), "r.json") == str(tmp_path / "r.json")
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(validate.InvalidInput, match="outside"):
        validate.path_inside(str(tmp_path), "link", "passwd")
    with pytest.raises(validate.InvalidInput, match="outside"):
        validate.path_inside(str(tmp_path), "..", "x")
