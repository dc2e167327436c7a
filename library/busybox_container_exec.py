#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: busybox_container_exec."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: busybox_container_exec
short_description: Run a command inside a running BusyBox container
description:
  - Joins the container's cgroups, then every namespace of its init with setns(2) (user, cgroup, ipc, uts,
    net, mnt, pid, time order), forks so that the command is inside the PID namespace, drops capabilities to
    the container's set, sets no_new_privs and executes O(argv) (or C(/bin/sh -c) O(cmd)).
  - Like M(ansible.builtin.command) it reports changed; use C(changed_when) for read-only commands.
version_added: "1.0.0"
author: nsverify maintainers (!UNKNOWN)
options:
  name:
    description: Name of a running container (see M(busybox_container)).
    type: str
    required: true
  argv:
    description: Command as a list, absolute path inside the container first.
    type: list
    elements: str
  cmd:
    description: A shell command line, run with C(/bin/sh -c) inside.
    type: str
  timeout:
    description: Seconds before the command is killed.
    type: int
    default: 30
attributes:
  check_mode:
    support: none
    description: The command runs for real or not at all, so check mode is refused.
  diff_mode:
    support: none
    description: No diff; what the command changes inside the container is not tracked.
"""

EXAMPLES = r"""
- name: Read the hostname inside
  busybox_container_exec:
    name: demo
    argv: [/bin/hostname]
  changed_when: false

- name: List processes inside
  busybox_container_exec:
    name: demo
    cmd: ps -o pid,comm
  changed_when: false
"""

RETURN = r"""
rc:
  description: Exit status; 128+N when the command died of signal N.
  returned: always
  type: int
  sample: 0
stdout:
  description: Standard output (at most 1 MiB).
  returned: always
  type: str
  sample: isolated-box
stdout_lines:
  description: RV(stdout) split into lines.
  returned: always
  type: list
  elements: str
  sample: [isolated-box]
stderr:
  description: Standard error (at most 1 MiB).
  returned: always
  type: str
  sample: ""
timed_out:
  description: Whether the command was killed after O(timeout).
  returned: always
  type: bool
  sample: false
init_pid:
  description: Host PID of the container's init whose namespaces were joined.
  returned: always
  type: int
  sample: 12345
"""

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import container, validate
from ansible.module_utils.nsverify.container import rootless


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            argv=dict(type="list", elements="str"),
            cmd=dict(type="str"),
            timeout=dict(type="int", default=30),
        ),
        mutually_exclusive=[("argv", "cmd")],
        required_one_of=[("argv", "cmd")],
        supports_check_mode=False,
    )


def main():
    module = build_module()
    p = module.params
    if p["argv"] is not None and not p["argv"]:
        module.fail_json(msg="argv is empty: give the command and its arguments, e.g. [/bin/ls, /], or cmd")
    argv = p["argv"] or ["/bin/sh", "-c", p["cmd"]]
    try:
        validate.integer(p["timeout"], "timeout (seconds the command may run)", minimum=1)
        st = rootless.require_running("exec", p["name"])
        res = container.exec_in(st["state"], argv, timeout=p["timeout"])
    except validate.InvalidInput as exc:
        module.fail_json(msg=str(exc))
    except container.ContainerError as exc:
        module.fail_json(msg=str(exc), **exc.evidence)
    result = dict(changed=True, init_pid=st["state"]["init_pid"], stdout_lines=res["stdout"].splitlines(), **res)
    if res["timed_out"]:
        module.fail_json(
            msg="command inside %s ran longer than timeout %ds and was killed (rc %d): raise timeout"
            % (p["name"], p["timeout"], res["rc"]),
            **result,
        )
    if res["rc"] != 0:
        module.fail_json(msg="command failed inside %s (rc %d)" % (p["name"], res["rc"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
