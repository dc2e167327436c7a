"""namespace_verify's own logic: option validation and the summary line (no proofs run here)."""

import namespace_verify
import pytest

from ansible.module_utils.nsverify import proofs


@pytest.mark.parametrize(
    "value,expected,deprecated",
    [
        (None, None, False),
        ([{"inside": 0, "outside": 100000, "count": 65536}], [[0, 100000, 65536]], False),
        ([{"inside": "0", "outside": "1000", "count": "1"}], [[0, 1000, 1]], False),
        ([[0, 100000, 65536]], [[0, 100000, 65536]], True),
        ([["0", "1000", "1"]], [[0, 1000, 1]], True),
    ],
    ids=["absent", "one-range", "strings-from-yaml", "old-list-form", "old-list-strings"],
)
def test_id_map_accepted(value, expected, deprecated):
    warnings = []
    assert namespace_verify.check_id_map(value, "uid_map", warnings) == expected
    assert bool(warnings) is deprecated and all("deprecated" in w for w in warnings)


@pytest.mark.parametrize(
    "value,message",
    [
        ([[0, 1]], "[inside, outside, count]"),
        ([[0, -1, 5]], "below the minimum 0"),
        ([[0, 1000, 0]], "count must be at least 1"),
        ([["a", 1, 1]], "must be an integer"),
        ([{"inside": 0, "outside": 1}], "missing count"),
        ([[0, 1000, 10], [5, 2000, 10]], "overlap"),
    ],
    ids=["two-fields", "negative", "zero-count", "not-a-number", "missing-key", "overlap"],
)
def test_id_map_rejected_with_the_rule(value, message):
    with pytest.raises(ValueError) as info:
        namespace_verify.check_id_map(value, "uid_map")
    assert message in str(info.value)


@pytest.mark.parametrize(
    "value,ok",
    [
        ({"monotonic": 10, "boottime": "20"}, {"monotonic": 10, "boottime": 20}),
        ({}, {}),
        ({"realtime": 1}, None),
        ({"monotonic": "soon"}, None),
        ({"monotonic": -(10**12)}, None),
    ],
    ids=["valid", "none", "realtime-has-no-offset", "not-seconds", "before-zero"],
)
def test_time_offsets(value, ok):
    if ok is None:
        with pytest.raises(ValueError):
            namespace_verify.check_offsets(value)
    else:
        assert namespace_verify.check_offsets(value) == ok


def test_summary_line_counts_types():
    line = proofs.summary_line({"passed": ["a", "b"], "failed": ["c"], "skipped": []})
    assert line == "Count: 3, Passed: 2, Failed: 1, Skipped: 0"


@pytest.mark.parametrize(
    "value,ok",
    [
        (None, True),
        ([], True),
        (["nsv1a2b3c4dc", "eth0"], True),
        (["x" * 15], True),
        (["x" * 16], False),
        (["a/b"], False),
        (["a b"], False),
        (["eth0:1"], False),
        ([""], False),
        ([".."], False),
    ],
    ids=["absent", "empty", "two", "15-chars", "16-chars", "slash", "space", "colon", "empty-name", "dotdot"],
)
def test_expected_interfaces_are_kernel_interface_names(value, ok):
    if ok:
        assert namespace_verify.check_interfaces(value) == list(value or [])
    else:
        with pytest.raises(ValueError) as info:
            namespace_verify.check_interfaces(value)
        assert "expected_interfaces" in str(info.value)
