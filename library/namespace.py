#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Persistent named namespaces of any of the eight types (like `ip netns add`, for all)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: namespace
short_description: Create or remove persistent named Linux namespaces of any type
description:
  - Like C(ip netns add), but for all eight namespace types (mnt uts ipc pid net user cgroup time).
  - Each namespace file is bind-mounted at C(/run/nsverify/ns/<name>/<type>), so the namespace
    outlives the process that made it; join it with C(nsenter --net=/run/nsverify/ns/<name>/net) etc.
  - C(/run/nsverify/ns) is bind-mounted on itself and made a private mount, like C(ip netns) does
    for C(/run/netns); it must be private (not shared) because a bind-mounted mount-namespace file
    under a shared mount would propagate into the namespace it names, which the kernel refuses with
    EINVAL. The price of that choice is that named-namespace files made later do not appear
    inside mount namespaces that already exist.
  - A PID namespace needs a living init and a time namespace has effect only on processes that live
    in it, so when C(pid) or C(time) is among the types one small holder process (C(nsv-holder), an
    exec'd C(python3 -I -S)) stays PID 1 of the new PID namespace, lives in every new namespace,
    reaps orphans and sleeps. Its host PID is tracked in C(state.json) and it is killed by PID
    (after checking its start time and command line) on I(state=absent). Killing it ends every
    process that was started inside the PID namespace.
  - When C(user) is among the types, all other namespaces are created by the same C(unshare(2))
    call and so are owned by the new user namespace; the module writes I(uid_map)/I(gid_map) from
    the parent side. The holder runs as uid/gid 0 inside when 0 is mapped.
  - The state file C(/run/nsverify/ns/<name>/state.json) records the config, inodes and holder.
    A second run with the same config changes nothing. If a crash, a killed holder or a bind mount
    removed by hand broke the namespace, I(state=present) repairs it (re-mounts from the living
    holder, keeping the same namespaces) or recreates it, and I(state=absent) removes whatever is
    left.
  - The module process itself never changes namespace; a forked child does the C(unshare(2)).
version_added: "1.0.0"
author:
  - nsverify maintainers (!UNKNOWN)
options:
  name:
    description:
      - Name of the named namespace; the directory under C(/run/nsverify/ns).
      - 1 to 64 characters from C([A-Za-z0-9_.-]), starting with a letter or digit (so never C(.),
        C(..) or an option-like C(-x)); no C(/). The same rule as every nsverify name.
      - Exactly one of I(name) and I(names).
    type: str
  names:
    description:
      - Several named namespaces with the same options, examined and acted on in one module call (one
        Ansible task for a thousand network namespaces instead of a thousand); each name follows the rule of
        I(name), no name twice. The result lists each under C(named).
      - Types that need no process (mnt uts ipc net user cgroup) get none; their bind mounts keep them.
      - For types among C(net), C(uts), C(ipc) and C(cgroup), one child process makes every name in turn
        (C(unshare(2)) and the bind mounts, as C(ip netns add) does); other types get one child per name.
      - A name that cannot be made or removed does not stop the others; the task then fails with a message
        naming each such name and why, its entry in C(named) carries C(failed) and C(msg), and nothing of a
        name that failed to be created is left behind.
    type: list
    elements: str
  state:
    description:
      - C(present) creates (or repairs) the named namespace; C(absent) removes every bind mount,
        holder process and file it made.
    type: str
    choices: [present, absent]
    default: present
  types:
    description:
      - Namespace types to create; required with I(state=present).
    type: list
    elements: str
    choices: [mnt, uts, ipc, pid, net, user, cgroup, time]
  hostname:
    description:
      - Hostname set inside the new UTS namespace (needs C(uts) in I(types)). The host's hostname
        is never changed.
      - An RFC 1123 host name of at most 64 characters (HOST_NAME_MAX) - letters, digits and C(-) in
        dot-separated labels, no label starting or ending with C(-).
    type: str
  uid_map:
    description:
      - uid map of the new user namespace (needs C(user) in I(types)), one entry per line of
        C(/proc/<pid>/uid_map).
      - "Default C([{inside: 0, outside: 100000, count: 65536}]): root inside is uid 100000
        outside, a range above every account id (C(nobody) is 65534) and the one useradd gives
        first in C(/etc/subuid), so files made by root inside belong to no real user."
      - Refused when ranges overlap inside or outside, a count is below 1, an id passes
        4294967294, or there are more than 340 lines (5 before kernel 4.15).
    type: list
    elements: dict
    suboptions:
      inside:
        description: First id inside the namespace.
        type: int
        required: true
      outside:
        description: First id in the parent namespace.
        type: int
        required: true
      count:
        description: Number of ids in the range.
        type: int
        required: true
  gid_map:
    description:
      - gid map of the new user namespace, same form and rules as I(uid_map); defaults to
        I(uid_map).
    type: list
    elements: dict
    suboptions:
      inside:
        description: First id inside the namespace.
        type: int
        required: true
      outside:
        description: First id in the parent namespace.
        type: int
        required: true
      count:
        description: Number of ids in the range.
        type: int
        required: true
  monotonic_offset:
    description:
      - Seconds added to CLOCK_MONOTONIC inside the new time namespace (may be negative, but not
        below the host clock's current value). Needs C(time) in I(types); default 0.
      - Joining a time namespace with C(setns(2)), e.g. C(nsenter --time), needs kernel 5.8.
    type: int
  boottime_offset:
    description:
      - Seconds added to CLOCK_BOOTTIME inside the new time namespace. Needs C(time); default 0.
    type: int
  mount_propagation:
    description:
      - Propagation of every mount in the new mount namespace (needs C(mnt)). C(private), the
        default of C(unshare(1)), shares nothing with the host; C(slave) receives the host's
        later mounts and unmounts but sends none back.
    type: str
    choices: [private, slave]
  force:
    description:
      - When the name already exists with a different config, remove and recreate it instead of
        failing. Every process inside the old namespaces loses them.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports what would change (create, repair, recreate, remove) without doing it.
  diff_mode:
    support: full
    description: Shows the config before and after.
notes:
  - Needs root (CAP_SYS_ADMIN in the initial user namespace) to bind-mount namespace files.
  - Namespaces live in C(/run), so they do not survive a reboot, nor does the holder.
  - The holder stays in the cgroup of the process that ran the module.
seealso:
  - name: ip-netns(8)
    description: The model for persistent named network namespaces.
    link: https://man7.org/linux/man-pages/man8/ip-netns.8.html
  - name: unshare(1)
    description: Persistent namespaces with C(--mount=file) and the private-mount rule.
    link: https://man7.org/linux/man-pages/man1/unshare.1.html
"""

EXAMPLES = r"""
- name: Create a named network namespace, like ip netns add nsvlab
  namespace:
    name: nsvlab
    types: [net]

- name: All eight types, owned by a new user namespace, with a hostname and clock offsets
  namespace:
    name: nsvall
    types: [mnt, uts, ipc, pid, net, user, cgroup, time]
    hostname: nsv-inside
    monotonic_offset: 86400
    boottime_offset: -10
    uid_map:
      - {inside: 0, outside: 200000, count: 65536}

- name: A thousand network namespaces in one task (and state=absent removes them in one task)
  namespace:
    names: "{{ range(1000) | map('regex_replace', '^', 'nsvlab') | list }}"
    types: [net]

- name: Run a command inside it
  ansible.builtin.command:
    argv: [nsenter, --uts=/run/nsverify/ns/nsvall/uts, hostname]
  changed_when: false

- name: Remove it with every mount, holder process and file it made
  namespace:
    name: nsvall
    state: absent
"""

RETURN = r"""
named:
  description: With I(names), one entry per name in the given order, with that name's name, action, reason,
    namespaces and holder_pid as documented below for a single I(name); a name that failed also has
    C(failed=true), C(msg) and, where known, the C(stage), C(errno) and C(errname) of the failure.
  returned: when names is given
  type: list
  elements: dict
  sample: [{name: nsv1, action: create, reason: named namespace does not exist,
            namespaces: {net: {path: /run/nsverify/ns/nsv1/net, inode: 4026532290}}, holder_pid: null}]
name:
  description: Name of the named namespace.
  returned: when name is given
  type: str
  sample: nsvall
state:
  description: The requested state.
  returned: always
  type: str
  sample: present
action:
  description: What was done (or would be in check mode) - none, create, repair, recreate or remove.
  returned: always
  type: str
  sample: create
reason:
  description: Why that action.
  returned: always
  type: str
  sample: named namespace does not exist
namespaces_dir:
  description: Directory that holds every named namespace.
  returned: always
  type: str
  sample: /run/nsverify/ns
namespaces:
  description:
    - Per type, the bind-mounted namespace file, its inode, and for pid and time the holder's host PID.
    - Empty after I(state=absent); inodes and holder_pid are null in check mode before a creation.
  returned: always
  type: dict
  sample:
    net: {path: /run/nsverify/ns/nsvall/net, inode: 4026532301}
    pid: {path: /run/nsverify/ns/nsvall/pid, inode: 4026532299, holder_pid: 40211}
holder_pid:
  description: Host PID of the holder process, null when no pid/time namespace is held.
  returned: always
  type: int
  sample: 40211
config:
  description: The normalized config (types, hostname, maps, offsets, mount_propagation).
  returned: when state is present
  type: dict
  sample:
    types: [net, user]
    uid_map: [{inside: 0, outside: 100000, count: 65536}]
    gid_map: [{inside: 0, outside: 100000, count: 65536}]
state_file:
  description: Path of the state file.
  returned: always
  type: str
  sample: /run/nsverify/ns/nsvall/state.json
removed:
  description:
    - With I(state=absent), what was removed - the recorded holder PID killed, holders of this name that
      the state file did not record (a module killed mid-creation), the mounts unmounted, whether the
      directory was removed and whether C(/run/nsverify/ns) itself was released (no named namespace left).
  returned: when something was removed
  type: dict
  sample:
    holder_killed: 40211
    untracked_holders_killed: []
    unmounted: [/run/nsverify/ns/nsvall/net]
    removed_dir: true
    released_dir: true
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import catalog, namespaces

_MAP_OPTIONS = dict(
    inside=dict(type="int", required=True),
    outside=dict(type="int", required=True),
    count=dict(type="int", required=True),
)


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            names=dict(type="list", elements="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            types=dict(type="list", elements="str", choices=list(catalog.TYPE_NAMES)),
            hostname=dict(type="str"),
            uid_map=dict(type="list", elements="dict", options=_MAP_OPTIONS),
            gid_map=dict(type="list", elements="dict", options=_MAP_OPTIONS),
            monotonic_offset=dict(type="int"),
            boottime_offset=dict(type="int"),
            mount_propagation=dict(type="str", choices=list(namespaces.PROPAGATIONS)),
            force=dict(type="bool", default=False),
        ),
        required_if=[("state", "present", ["types"])],
        required_one_of=[("name", "names")],
        mutually_exclusive=[("name", "names")],
        supports_check_mode=True,
    )


def requested(module):
    """(names, config) from the parameters, or fail_json naming what is wrong and how to fix it."""
    p = module.params
    names = [p["name"]] if p["names"] is None else p["names"]
    label = p["name"] if p["names"] is None else "names"
    try:
        if not names:
            raise ValueError("names is empty: give at least one name")
        for name in names:
            namespaces.validate_name(name)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError("names lists %s more than once: give each name once" % ", ".join(twice))
        config = None
        if p["state"] == "present":
            config = namespaces.build_config(
                p["types"],
                hostname=p["hostname"],
                uid_map=p["uid_map"],
                gid_map=p["gid_map"],
                monotonic_offset=p["monotonic_offset"],
                boottime_offset=p["boottime_offset"],
                propagation=p["mount_propagation"],
            )
    except ValueError as exc:
        module.fail_json(msg="invalid options for named namespace %r: %s" % (label, exc))
    return names, config


def plan(module, name, config, mounts):
    """(action, reason, exam) for one name; fail_json on a conflicting config without force."""
    exam = namespaces.examine(name, namespaces.NAMESPACES_DIR, mounts=mounts)
    try:
        action, reason = namespaces.decide(config is not None, config, exam, force=module.params["force"])
    except namespaces.ConfigConflict as exc:
        module.fail_json(msg="named namespace %r: %s" % (name, exc.msg), **exc.evidence)
    return action, reason, exam


def act(module, name, action, config, exam):
    """Carry out one name's action (not in check mode); its state afterwards and what was removed."""
    ns_dir = namespaces.NAMESPACES_DIR
    state = exam["state"] if action in ("none", "repair") else None
    removed = None
    if module.check_mode:
        return state, removed
    try:
        if action in ("create", "recreate"):
            state = namespaces.create(name, config, ns_dir)
        elif action == "repair":
            state = namespaces.repair(name, ns_dir)
        elif action == "remove":
            removed = namespaces.remove(name, ns_dir)
    except namespaces.NamespaceError as exc:
        cleaned = "; nothing was left behind" if action in ("create", "recreate") else ""
        module.fail_json(msg="named namespace %r: %s%s" % (name, exc.msg, cleaned), action=action, **exc.evidence)
    except OSError as exc:
        module.fail_json(msg="named namespace %r: %s (%s)" % (name, exc, action), action=action)
    return state, removed


def act_many(module, plans, config):
    """names: the creations in one batch (create_many), the removals in one (remove_many), repairs one by
    one; {name: (state, removed, error)}, an error stopping only its own name."""
    ns_dir = namespaces.NAMESPACES_DIR
    out = dict((n, (e["state"] if a in ("none", "repair") else None, None, None)) for n, a, _r, e in plans)
    if module.check_mode:
        return out
    made = [n for n, a, _r, _e in plans if a in ("create", "recreate")]
    gone = [n for n, a, _r, _e in plans if a == "remove"]
    if made:
        for n, res in namespaces.create_many(made, config, ns_dir).items():
            out[n] = (None, None, res) if isinstance(res, Exception) else (res, None, None)
    if gone:
        for n, res in namespaces.remove_many(gone, ns_dir).items():
            out[n] = (None, None, res) if isinstance(res, Exception) else (None, res, None)
    for n in [n for n, a, _r, _e in plans if a == "repair"]:
        try:
            out[n] = (namespaces.repair(n, ns_dir), None, None)
        except (namespaces.NamespaceError, OSError) as exc:
            out[n] = (None, None, exc)
    return out


def failure(name, action, exc):
    """One name's failure in a names: call, for its entry in `named`: msg and the evidence."""
    if isinstance(exc, namespaces.NamespaceError):
        cleaned = "; nothing was left behind" if action in ("create", "recreate") else ""
        return dict(exc.evidence, failed=True, msg="%s%s" % (exc.msg, cleaned))
    return dict(failed=True, msg="%s (%s)" % (exc, action))


def describe(name, action, reason, config, state, removed):
    out = dict(name=name, action=action, reason=reason)
    if removed is not None:
        out["removed"] = removed
    if config is not None and state is None:  # check mode: what would be made, inodes not known yet
        state = {"config": config, "inodes": {}, "holder": None}
    if config is None:
        state = None
    out["namespaces"] = namespaces.describe(name, state, namespaces.NAMESPACES_DIR)
    out["holder_pid"] = ((state or {}).get("holder") or {}).get("pid")
    return out


def main():
    module = build_module()
    p = module.params
    names, config = requested(module)
    if os.geteuid() != 0:
        module.fail_json(msg="the namespace module needs root to bind-mount namespace files; run it with become: true")
    ns_dir = namespaces.NAMESPACES_DIR
    mounts = namespaces.MountIndex(ns_dir)  # once for every name: examine() only reads
    plans = [(name,) + plan(module, name, config, mounts) for name in names]
    entries, before, after = [], {}, {}
    done = act_many(module, plans, config) if p["names"] is not None else {}
    for name, action, reason, exam in plans:
        if exam["exists"]:
            before[name] = (exam["state"] or {}).get("config") or {}
        if config is not None:
            after[name] = config
        state, removed, error = done[name] if name in done else act(module, name, action, config, exam) + (None,)
        entries.append(describe(name, action, reason, config, state, removed))
        if error is not None:
            entries[-1].update(failure(name, action, error))
    if config is not None:
        for warning in namespaces.join_warnings(config["types"]):
            module.warn(warning)
    result = dict(changed=any(e["action"] != "none" for e in entries), state=p["state"], namespaces_dir=ns_dir)
    if p["names"] is None:
        name = names[0]
        result.update(entries[0], state_file=os.path.join(ns_dir, name, namespaces.STATE_FILE))
        result["diff"] = dict(
            before=before.get(name, {}),
            after=after.get(name, {}),
            before_header="%s (%s)" % (name, "present" if name in before else "absent"),
            after_header="%s (%s)" % (name, p["state"]),
        )
        if config is not None:
            result["config"] = config
    else:
        result["named"] = entries
        result["diff"] = dict(before=before, after=after, before_header="names", after_header="names")
        failed = [e for e in entries if e.get("failed")]
        if failed:
            why = "; ".join("%s: %s" % (e["name"], e["msg"]) for e in failed)
            module.fail_json(
                msg="%d of %d named namespaces failed (the others are done): %s" % (len(failed), len(entries), why),
                **result,
            )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
