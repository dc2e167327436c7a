#!/usr/bin/env python3
"""Run the nsverify audit engine alone and print ansible_facts.nsverify as JSON.

This is what the benchmark times as "nsverify engine": the stdlib-only engine from
module_utils/nsverify, imported without Ansible (the same code a target host runs inside
the namespace_facts module), so the numbers measure the audit's work, not Ansible's.
"""

import json
import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_engine():
    """Make module_utils/ importable as ansible.module_utils.* without importing Ansible."""
    ansible = types.ModuleType("ansible")
    ansible.__path__ = []
    module_utils = types.ModuleType("ansible.module_utils")
    module_utils.__path__ = [os.path.join(ROOT, "module_utils")]
    ansible.module_utils = module_utils
    sys.modules.setdefault("ansible", ansible)
    sys.modules.setdefault("ansible.module_utils", module_utils)


def main():
    import_engine()
    from ansible.module_utils.nsverify import audit

    json.dump(audit.audit(), sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
