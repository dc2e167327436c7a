"""Persistent named namespaces: `ip netns add`, but for all eight types.

A named namespace `<name>` is a directory /run/nsverify/ns/<name>/ holding one
bind mount of a namespace file per requested type (`<type>`) and `state.json`
(config, inodes, holder). A bind mount keeps a namespace alive without any
process in it, except for two types:

- pid: a PID namespace whose init has exited can no longer get processes
  (fork inside fails with ENOMEM), so a holder process stays PID 1 in it.
- time: offsets are written to /proc/self/timens_offsets after
  unshare(CLONE_NEWTIME) and before the first process enters; the namespace
  applies to children only (time_for_children), so the same holder lives in it.

The holder is one small process (`nsv-holder`, an exec'd `python3 -I -S -c`)
forked by the creating child after the unshare: it is PID 1 of the new PID
namespace, lives in every new namespace, reaps orphans and sleeps. Its host PID
and start time are tracked in state.json; it is killed by PID, after checking
its identity (start time and command line), never by name.

If `user` is among the types, every other namespace is created by the same
unshare(2) call and is therefore owned by the new user namespace; the
creating process writes nothing into its own maps -- the module process (root
in the parent namespace) writes uid_map/gid_map, as user_namespaces(7) requires
for maps other than the writer's own id.

/run/nsverify/ns is bind-mounted on itself and made private (mount --make-private),
the way ip-netns(8) prepares /run/netns. Unlike /run/netns it must not be shared:
bind-mounting a mount-namespace file under a shared mount would propagate the
mount into peers, including the very namespace it names, a loop the kernel
refuses with EINVAL (unshare(1), "--mount=file").

The module process never changes namespace: a forked child unshares, the parent
only writes maps and makes bind mounts in its own (the host's) mount namespace.

Rooms: config (types and options, through the validate room), state (the directory, the
state file, the lock), holder (the holder process), plan (examine, decide, describe: read
only), lifecycle (create on probe.spawn, repair, remove, remove_many) and batch (create_many:
many names in one call, one creator child for the types a bind mount alone keeps). The names
below are the ones the namespace module and the tests use.
"""

from __future__ import annotations

from ansible.module_utils.nsverify import syscalls  # noqa: F401  (tests patch namespaces.syscalls.mount)
from ansible.module_utils.nsverify.namespaces.batch import BATCH_TYPES, batchable, create_many  # noqa: F401
from ansible.module_utils.nsverify.namespaces.config import (  # noqa: F401
    DEFAULT_ID_MAP,
    DEFAULT_PROPAGATION,
    HOLDER_TYPES,
    NAME_MAX,
    PROPAGATIONS,
    ConfigConflict,
    NamespaceError,
    build_config,
    join_warnings,
    needs_holder,
    validate_name,
)
from ansible.module_utils.nsverify.namespaces.holder import (  # noqa: F401
    HOLDER_ARGV0,
    HOLDER_CODE,
    find_untracked_holders,
    holder_alive,
    holder_argv,
    read_holder_identity,
    stop_holder,
)
from ansible.module_utils.nsverify.namespaces.lifecycle import (  # noqa: F401
    SPAWN_TIMEOUT,
    create,
    remove,
    remove_many,
    repair,
)
from ansible.module_utils.nsverify.namespaces.plan import (  # noqa: F401
    decide,
    describe,
    examine,
    read_hostname,
    set_hostname,
)
from ansible.module_utils.nsverify.namespaces.state import (  # noqa: F401
    NAMESPACES_DIR,
    STATE_FILE,
    STATE_VERSION,
    MountIndex,
    ensure_namespaces_dir,
    list_named,
    load_state,
    name_dir,
    paths,
    release_namespaces_dir,
)
