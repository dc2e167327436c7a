#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: busybox_rootfs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: busybox_rootfs
short_description: Build the BusyBox root filesystem shared read-only by the containers
description:
  - Creates C(<base>/busybox-<version>) with C(bin sbin usr/bin usr/sbin proc sys dev etc tmp root), a copy of a
    static busybox as C(bin/busybox), a relative symlink for every applet C(busybox --list-full) reports, and
    C(/etc/passwd), C(/etc/group), C(/etc/hostname), C(/etc/hosts).
  - Computes the layout, compares it with the disk and applies only the difference, so a second run changes
    nothing. A dynamically linked busybox is refused (the rootfs has no C library).
version_added: "1.0.0"
author: nsverify maintainers (!UNKNOWN)
options:
  binary:
    description: Path of a static busybox (Debian package busybox-static installs C(/bin/busybox)).
    type: path
    default: /bin/busybox
  base:
    description: Directory holding one rootfs per busybox version.
    type: path
    default: /var/lib/nsverify/rootfs
  hostname:
    description: Hostname written to C(etc/hostname) and C(etc/hosts) of the image (a container overrides it in
      its upper layer).
    type: str
    default: isolated-box
  state:
    description: V(present) builds the rootfs, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Computes the actions that would bring the rootfs up to date and does none of them.
  diff_mode:
    support: full
    description: Lists the actions taken (or that would be taken).
"""

EXAMPLES = r"""
- name: Build the rootfs from Debian's busybox-static
  busybox_rootfs:
  register: rootfs

- name: Build it from a local binary
  busybox_rootfs:
    binary: /opt/busybox/busybox
"""

RETURN = r"""
path:
  description: The rootfs directory.
  returned: always
  type: str
  sample: /var/lib/nsverify/rootfs/busybox-1.35.0
version:
  description: BusyBox version of the binary.
  returned: always
  type: str
  sample: 1.35.0
applets:
  description: Number of applets linked.
  returned: always
  type: int
  sample: 269
actions:
  description: What was (or in check mode would be) done, one line per step.
  returned: always
  type: list
  elements: str
  sample: [mkdir ., binary bin/busybox, link bin/sh]
unusable_binary:
  description:
    - On failure, true when the busybox binary itself is missing or unusable (not a static ELF, no applet list,
      applets missing), which installing a static busybox package fixes; the busybox_rootfs role installs the
      package only then.
  returned: failure
  type: bool
  sample: true
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import rootfs, validate


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            binary=dict(type="path", default=rootfs.DEFAULT_BINARY),
            base=dict(type="path", default=rootfs.DEFAULT_BASE),
            hostname=dict(type="str", default=rootfs.DEFAULT_HOSTNAME),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )


def main():
    module = build_module()
    p = module.params
    try:
        validate.hostname(p["hostname"])
    except validate.InvalidInput as exc:
        module.fail_json(msg=str(exc))
    try:
        if p["state"] == "present":
            res = rootfs.build(p["binary"], p["base"], p["hostname"], check=module.check_mode)
        else:
            info = rootfs.query_binary(p["binary"])
            path = rootfs.rootfs_path(info["version"], p["base"])
            exists = os.path.isdir(path)
            res = dict(
                path=path,
                version=info["version"],
                applets=len(info["applets"]),
                changed=exists,
                actions=["remove ."] if exists else [],
            )
            if exists and not module.check_mode:
                rootfs.remove(path)
    except rootfs.RootfsError as exc:
        module.fail_json(msg=str(exc), unusable_binary=isinstance(exc, rootfs.BinaryError))
    except OSError as exc:
        module.fail_json(msg="building the rootfs failed: %s" % exc)
    if module._diff and res["changed"]:
        res["diff"] = dict(before="", after="\n".join(res["actions"]) + "\n")
    module.exit_json(**res)


if __name__ == "__main__":
    main()
