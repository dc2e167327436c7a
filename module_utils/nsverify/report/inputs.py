"""The shape of one host's report inputs, checked before anything is evaluated.

A host entry the report does not understand (a misspelt key, facts that are a string, proofs keyed by
something other than a namespace type) would otherwise evaluate to every control skipped, which reads
like "nothing applies here" instead of "the input was wrong". check_hosts() raises InputError naming
the host and the key, what was found and what is expected.

An empty entry ({} or None) stays valid: it is a host whose inputs were not gathered (unreachable, or
its tasks failed before the report step), and its controls are skipped with that reason.
"""

from __future__ import annotations

from ansible.module_utils.nsverify import catalog

INPUT_KEYS = ("facts", "proofs", "container", "workloads", "distribution")
META_KEYS = ("audited", "run")


class InputError(ValueError):
    """A host entry of the wrong shape; the message names the host, the key and the fix."""


def _kind(value):
    return type(value).__name__ if value is not None else "null"


def _fail(host, key, found, expected):
    where = "hosts.%s.%s" % (host, key) if key else "hosts.%s" % host
    raise InputError("%s is %s; expected %s" % (where, found, expected))


def _check_facts(host, facts):
    if facts is None or facts == {}:
        return
    if not isinstance(facts, dict):
        _fail(host, "facts", "a %s" % _kind(facts), "a mapping: ansible_facts.nsverify of namespace_facts")
    if "types" not in facts and isinstance(facts.get("nsverify"), dict):  # the whole ansible_facts
        facts = facts["nsverify"]
    types = facts.get("types")
    if not isinstance(types, dict):
        _fail(
            host,
            "facts.types",
            "missing" if types is None else "a %s" % _kind(types),
            "a mapping of namespace type to verdict (give ansible_facts.nsverify of namespace_facts)",
        )
    for name, fact in types.items():
        if name not in catalog.TYPE_NAMES:
            _fail(host, "facts.types.%s" % name, "not a namespace type", "one of %s" % ", ".join(catalog.TYPE_NAMES))
        if not isinstance(fact, dict):
            _fail(host, "facts.types.%s" % name, "a %s" % _kind(fact), "a mapping with verdict and reason")


def _check_proofs(host, proofs):
    if proofs is None or proofs == {}:
        return
    if not isinstance(proofs, dict):
        _fail(host, "proofs", "a %s" % _kind(proofs), "a mapping: the proofs of namespace_verify")
    for name, result in proofs.items():
        if name not in catalog.TYPE_NAMES:
            _fail(
                host,
                "proofs.%s" % name,
                "not a namespace type",
                "keys among %s (the proofs of namespace_verify)" % ", ".join(catalog.TYPE_NAMES),
            )
        if not isinstance(result, dict):
            _fail(host, "proofs.%s" % name, "a %s" % _kind(result), "a mapping with status and checks")
        checks = result.get("checks")
        if checks is not None and not isinstance(checks, list):
            _fail(host, "proofs.%s.checks" % name, "a %s" % _kind(checks), "a list of check records")


def _check_list_or_holder(host, key, value, holders, expected):
    if value is None or isinstance(value, list):
        items = value or []
    elif isinstance(value, dict) and any(isinstance(value.get(k), list) for k in holders):
        items = next(value[k] for k in holders if isinstance(value.get(k), list))
    else:
        found = "a mapping without %s" % " or ".join(holders) if isinstance(value, dict) else "a %s" % _kind(value)
        _fail(host, key, found, expected)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            _fail(host, "%s[%d]" % (key, i), "a %s" % _kind(item), "a mapping")


def check_host(host, data):
    """InputError when one host's entry is not what the report evaluates; None and {} pass (not gathered)."""
    if data is None or data == {}:
        return
    if not isinstance(data, dict):
        _fail(host, None, "a %s" % _kind(data), "a mapping with facts/proofs/container/workloads/distribution")
    unknown = sorted(str(k) for k in data if k not in INPUT_KEYS + META_KEYS)
    if unknown:
        _fail(
            host,
            unknown[0],
            "not a report input",
            "keys among %s (a misspelt key would leave its controls skipped)" % ", ".join(INPUT_KEYS + META_KEYS),
        )
    _check_facts(host, data.get("facts"))
    _check_proofs(host, data.get("proofs"))
    _check_list_or_holder(
        host, "container", data.get("container"), ("checks", "results"), "a list of container checks (or checks: [...])"
    )
    _check_list_or_holder(
        host, "workloads", data.get("workloads"), ("targets", "errors"), "namespace_inspect's result (targets: [...])"
    )
    for key in ("distribution",):
        if data.get(key) is not None and not isinstance(data[key], dict):
            _fail(host, key, "a %s" % _kind(data[key]), "a mapping (distribution, distribution_major_version)")
    for key in META_KEYS:
        if data.get(key) is not None and not isinstance(data[key], str):
            _fail(host, key, "a %s" % _kind(data[key]), "a string")


def check_hosts(hosts):
    """check_host for every entry of {host: data}; the first problem raises InputError."""
    if not isinstance(hosts, dict):
        raise InputError("hosts is a %s; expected a mapping of host name to its inputs" % _kind(hosts))
    for host in sorted(hosts, key=str):
        check_host(host, hosts[host])
