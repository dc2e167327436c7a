#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: the BusyBox containers nsverify knows on a host, and their state (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: busybox_container_info
short_description: List the nsverify BusyBox containers on a host with their status and state
description:
  - Returns every container that M(busybox_container) made on the host (running, or stopped with files left),
    or only the one named by O(name), with its status and the state the engine keeps for it (init PID and start
    time, namespace inodes, overlay, cgroups, veth, configuration).
  - The engine knows where that state lives; playbooks and roles ask this module instead of reading the files.
  - A container counts as C(running) only when its recorded init still runs with the recorded start time (a
    reused PID is not the container).
  - Read-only, C(changed) is always false; runs in check mode.
version_added: "1.0.0"
author: nsverify maintainers (!UNKNOWN)
options:
  name:
    description:
      - Container name (C([a-z0-9][a-z0-9_-]{0,31})). When given, only this container is returned, and
        RV(container) describes it (status C(absent) when nsverify has no trace of it).
      - When left out, every container of the host is returned.
    type: str
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
"""

EXAMPLES = r"""
- name: Find every nsverify container on the host
  busybox_container_info:
  register: nsverify_teardown_containers

- name: Remove them
  busybox_container:
    name: "{{ item }}"
    state: absent
  loop: "{{ nsverify_teardown_containers.names }}"

- name: Is the container box running?
  busybox_container_info:
    name: box
  register: nsverify_report_container

- name: Check it when it runs
  busybox_container_verify:
    name: box
  when: nsverify_report_container.container.running
"""

RETURN = r"""
names:
  description: Names of the containers returned, sorted.
  returned: always
  type: list
  elements: str
  sample: [box, web]
containers:
  description:
    - One entry per container, sorted by name. Each holds C(name), C(status) (C(running), or C(stopped) when
      only files are left, e.g. the upper layer), C(running), and the state fields the engine recorded at start
      (none when it is not running) such as C(init_pid), C(init_starttime), C(started_at), C(config_hash),
      C(namespaces), C(host_namespaces), C(overlay), C(cgroups), C(veth), plus C(config).
  returned: always
  type: list
  elements: dict
  sample:
    - name: box
      status: running
      running: true
      init_pid: 12345
      init_starttime: 987654
      config_hash: 3f0c...
      namespaces: {mnt: 4026532301, uts: 4026532302, ipc: 4026532303, pid: 4026532304, net: 4026532306}
      veth: {host: nsv1a2b3c4dh, container: nsv1a2b3c4dc}
      config: {name: box, hostname: isolated-box}
container:
  description: The container named by O(name), as in RV(containers); C(status) is C(absent) when it is unknown.
  returned: when O(name) is given
  type: dict
  sample: {name: box, status: absent, running: false, config: {}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import container, validate


def build_module():
    return AnsibleModule(
        argument_spec=dict(name=dict(type="str")),
        supports_check_mode=True,
    )


def describe(name):
    """One container as the module returns it: the engine's status and its recorded state."""
    st = container.status(name)
    if not st.get("exists") and not st.get("running"):
        return {"name": name, "status": "absent", "running": False, "config": {}}
    entry = dict(st.get("state") or {}) if st.get("running") else {}
    entry.update(
        name=name,
        status="running" if st.get("running") else "stopped",
        running=bool(st.get("running")),
        config=entry.get("config") or st.get("config") or {},
    )
    return entry


def main():
    module = build_module()
    name = module.params["name"]
    if name is not None:
        try:
            name = validate.container_name(name)
        except validate.InvalidInput as exc:
            module.fail_json(msg="%s; use the name the container was started with" % exc)
    names = [name] if name is not None else container.list_names()
    entries = [describe(n) for n in names]
    known = [e for e in entries if e["status"] != "absent"]
    result = dict(changed=False, names=[e["name"] for e in known], containers=known)
    if name is not None:
        result["container"] = entries[0]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
