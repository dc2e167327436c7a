"""SAMPLE inputs for the report tests: hand-written dicts that follow the documented shapes of
namespace_facts (ansible_facts.nsverify) and namespace_verify (proofs) exactly, and a check
that results captured from the real modules keep those shapes.
"""

from ansible.module_utils.nsverify import catalog, controls


def sample_type(name, verdict="supported", count=1, limit=63000, contradiction=None, evidence=None):
    return {
        "verdict": verdict,
        "reason": "sample reason for %s" % name,
        "control_id": controls.audit_control(name).id,
        "evidence": evidence if evidence is not None else {"release": "6.1.0-25-amd64"},
        "contradiction": contradiction,
        "count": count,
        "limit": limit,
    }


def sample_facts(**types):
    facts = {
        "kernel": {"release": "6.1.0-25-amd64", "version": [6, 1, 0], "machine": "x86_64"},
        "config": {"source": "/boot/config-6.1.0-25-amd64"},
        "privilege": {"euid": 0, "user": "root", "initial_user_ns": True},
        "types": {n: sample_type(n) for n in catalog.TYPE_NAMES},
        "userns_policy": {
            "control_id": "NS-KRN-009",
            "unprivileged_userns_clone": None,
            "apparmor_restrict_unprivileged_userns": None,
            "max_user_namespaces": 63000,
            "cmdline": {},
            "notes": [],
            "unprivileged_can_create": True,
            "unprivileged_can_use_capabilities": True,
        },
        "cgroup": {"layout": "hybrid", "mounts": []},
        "summary": {"supported": list(catalog.TYPE_NAMES)},
    }
    for name, fact in types.items():
        facts["types"][name] = fact
    return facts


def sample_proofs(status="pass"):
    results = {}
    for name in catalog.TYPE_NAMES:
        checks = [
            {"id": c.id, "title": c.title, "status": status, "evidence": {"seen": name}}
            for c in controls.for_namespace(name, "proof")
        ]
        results[name] = {
            "status": "passed" if status == "pass" else "failed",
            "checks": checks,
            "verdict": "supported",
            "reason": "",
        }
    return results
