"""The BusyBox container: a PID 1 in new namespaces on an overlay of the BusyBox rootfs, with
cgroup limits and an optional veth, that outlives the task which started it.

Rooms (each a module of this package):
  config     the request validated into the canonical config (validate.py), its hash
  state      paths, state and config files, status, list_names, leftovers
  init       PID 1: build the root, drop privileges, start the workload, reap
  lifecycle  examine -> decide(want_state, config, exam) -> act; start, stop, remove
  exec       run a command inside, the way the workload runs
  network    lo, the veth pair and its /30, interfaces seen from inside
  summary    what people and playbooks read of a running container
  checks     the isolation checks NS-CTR-001..011
  prove      the namespace proofs (proofs/, target pid) against its init, planned from its record
  pod        members joining a first container's net, ipc, uts (pid) namespaces, like a Kubernetes pod

The names below are the package's public API: `from ansible.module_utils.nsverify import
container`, then container.status(name), container.start(config), ...
"""

from __future__ import annotations

from ansible.module_utils.nsverify.container import addresses, checks, limits, pod  # noqa: F401
from ansible.module_utils.nsverify.container.config import (  # noqa: F401
    AUTO_NETWORK,
    BASE_TYPES,
    CAPABILITIES,
    DEFAULT_CAPS,
    DEFAULT_COMMAND,
    DEFAULT_HOSTNAME,
    DEFAULT_ID_MAP,
    DEFAULT_NETWORK,
    REQUIRED_TYPES,
    ContainerError,
    cap_numbers,
    config_hash,
    namespace_types,
    normalize,
    validate_namespaces,
    veth_names,
)
from ansible.module_utils.nsverify.container.exec import exec_in  # noqa: F401
from ansible.module_utils.nsverify.container.init import (  # noqa: F401
    ENV,
    STOP_GRACE,
    WORKLOAD_OOM_SCORE_ADJ,
    drop_privileges,
    init_main,
    setup_root,
)
from ansible.module_utils.nsverify.container.lifecycle import (  # noqa: F401
    ConfigConflict,
    act,
    decide,
    examine,
    explain_refusal,
    kill_and_wait,
    refused_types,
    remove,
    report,
    start,
    stop,
)
from ansible.module_utils.nsverify.container.network import interfaces_here, link_exists, link_up  # noqa: F401
from ansible.module_utils.nsverify.container.state import (  # noqa: F401
    DATA_DIR,
    RUN_DIR,
    init_alive,
    leftovers,
    list_names,
    parse_stat,
    paths,
    read_stat,
    remove_tree,
    state_word,
    status,
)
from ansible.module_utils.nsverify.container.summary import (  # noqa: F401
    describe,
    human_bytes,
    limit_lines,
    namespace_lines,
    observe,
    summary_lines,
)
