"""The nsverify.namespaces collection: built from this checkout, installed into a throwaway collections path and
used only by FQCN (modules, roles, a playbook from the collection) against this machine; the results are compared
with the checkout's own modules. Then `ansible-test sanity` on the built artifact, and the execution-environment
definition through `ansible-builder create`.

Nothing of the checkout leaks into the collection runs: ANSIBLE_CONFIG is a file written here (no library/,
module_utils/ or roles_path of the checkout), the working directory is a temporary one, and a short module name
is shown to fail there."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from ansible.module_utils.nsverify import catalog

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import build_collection  # noqa: E402
import collection_sanity  # noqa: E402

FQ = "nsverify.namespaces."
VENV_BIN = ROOT / ".venv" / "bin"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the audit of all eight types and the rootfs role need root")


def _tool(name):
    local = VENV_BIN / name
    return str(local) if local.exists() else shutil.which(name)


def _run(cmd, env, cwd, timeout=300, expect_rc=0):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if expect_rc is not None:
        assert proc.returncode == expect_rc, "%s\n%s\n%s" % (
            " ".join(map(str, cmd)),
            proc.stdout[-4000:],
            proc.stderr[-3000:],
        )
    return proc


def collection_env(base):
    """An environment that knows only the installed collection, nothing of the checkout."""
    cfg = base / "ansible.cfg"
    cfg.write_text(
        "[defaults]\ncollections_path = %s\ninventory = %s\nhost_key_checking = False\n"
        "retry_files_enabled = False\ninterpreter_python = auto_silent\n"
        % (base / "collections", base / "inventory.yml")
    )
    (base / "inventory.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(cfg),
        ANSIBLE_COLLECTIONS_PATH=str(base / "collections"),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_HOME=str(base / "home"),
        ANSIBLE_LOCAL_TEMP=str(base / "ltmp"),
        ANSIBLE_NOCOLOR="1",
        PATH=os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]),
    )
    return env


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    base = tmp_path_factory.mktemp("nsv-collection")
    start = time.monotonic()
    coll = build_collection.stage(ROOT, base / "stage")
    artifact = build_collection.build(coll, base / "dist")
    build_seconds = time.monotonic() - start
    env = collection_env(base)
    work = base / "work"
    work.mkdir()
    _run([_tool("ansible-galaxy"), "collection", "install", str(artifact), "-p", str(base / "collections")], env, work)
    installed = base / "collections" / "ansible_collections" / "nsverify" / "namespaces"
    print("collection built in %.1f s: %s" % (build_seconds, artifact.name))
    return {"base": base, "artifact": artifact, "env": env, "work": work, "installed": installed}


def test_artifact_is_named_after_galaxy_yml_and_holds_the_collection_layout(collection):
    version = build_collection.galaxy_version(ROOT)
    assert collection["artifact"].name == "nsverify-namespaces-%s.tar.gz" % version
    with tarfile.open(collection["artifact"]) as tar:
        names = set(tar.getnames())
    modules = build_collection.module_names(ROOT)
    assert {"plugins/modules/%s.py" % m for m in modules} <= names
    assert {"MANIFEST.json", "meta/runtime.yml", "CHANGELOG.rst", "changelogs/changelog.yaml"} <= names

    def files(top):
        return {p.relative_to(ROOT) for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts}

    engine = {"plugins/" + str(p) for p in files("module_utils")}
    assert engine and engine <= names
    assert {str(p) for p in files("roles") | files("playbooks")} <= names
    assert "tests/sanity/ignore-2.19.txt" in names
    assert not any(n.startswith(("library/", "module_utils/", "tests/unit", ".venv")) for n in names)


def test_installed_python_imports_only_the_collection_engine(collection):
    for path in (collection["installed"] / "plugins").rglob("*.py"):
        text = path.read_text()
        assert "ansible.module_utils.nsverify" not in text, path
    facts = (collection["installed"] / "plugins" / "modules" / "namespace_facts.py").read_text()
    assert "from ansible_collections.nsverify.namespaces.plugins.module_utils.nsverify import" in facts


def test_installed_roles_and_playbooks_call_modules_and_roles_by_fqcn(collection):
    modules, roles = build_collection.module_names(ROOT), build_collection.role_names(ROOT)
    inst = collection["installed"]
    for path in sorted(inst.glob("roles/*/tasks/*.yml")):
        assert build_collection.leftover_short_names(path.read_text(), modules, roles, "tasks") == [], path
    for path in sorted(inst.glob("playbooks/*.yml")):
        assert build_collection.leftover_short_names(path.read_text(), modules, roles, "playbook") == [], path
    assert (
        "nsverify.namespaces.busybox_container:" in (inst / "roles/busybox_container/tasks/lifecycle.yml").read_text()
    )
    # a variable that shares a module's name stays as it was
    assert "busybox_container_verify | bool" in (inst / "roles/busybox_container/tasks/main.yml").read_text()


def test_changelog_lists_this_version_and_the_new_modules(collection):
    rst = (collection["installed"] / "CHANGELOG.rst").read_text()
    assert "v%s" % build_collection.galaxy_version(ROOT) in rst
    assert "nsverify.namespaces.namespace_facts" in rst


def test_ansible_doc_renders_each_module_by_fqcn(collection):
    for module in build_collection.module_names(ROOT):
        out = _run([_tool("ansible-doc"), FQ + module], collection["env"], collection["work"]).stdout
        assert FQ + module in out


def test_short_module_name_is_unknown_outside_the_checkout(collection):
    # proves the collection runs below do not see the checkout's library/
    proc = _run(
        [_tool("ansible"), "localhost", "-m", "namespace_facts"], collection["env"], collection["work"], expect_rc=None
    )
    assert proc.returncode != 0
    assert "namespace_facts" in proc.stdout + proc.stderr


FQCN_PLAYBOOK = """\
- name: Use nsverify.namespaces by FQCN only
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Audit this host
      nsverify.namespaces.namespace_facts:
      register: nsv_facts

    - name: Keep the audit
      ansible.builtin.copy:
        content: "{{ ansible_facts.nsverify | to_nice_json }}"
        dest: "{{ nsv_out }}/facts.json"
        mode: "0644"

    - name: Build the rootfs with the collection's role
      ansible.builtin.import_role:
        name: nsverify.namespaces.busybox_rootfs
      vars:
        busybox_rootfs_install_package: false
        busybox_rootfs_base: "{{ nsv_out }}/rootfs"

    - name: Plan a container with the collection's role (check mode, nothing is started)
      ansible.builtin.import_role:
        name: nsverify.namespaces.busybox_container
      vars:
        busybox_container_name: nsv-h4-collection
        busybox_container_veth: false
        busybox_container_rootfs_base: "{{ nsv_out }}/rootfs"
        # the checks, proofs and summary gate on the play's --check, not on a task's check_mode
        busybox_container_verify: false
        busybox_container_prove_namespaces: false
        busybox_container_print_summary: false
      check_mode: true

    - name: Keep the role results
      ansible.builtin.copy:
        content: "{{ {'rootfs_path': busybox_rootfs_path, 'rootfs_version': busybox_rootfs_version,
          'container_changed': busybox_container_result is changed} | to_nice_json }}"
        dest: "{{ nsv_out }}/roles.json"
        mode: "0644"
"""


@pytest.fixture(scope="module")
def fqcn_run(collection):
    out = collection["base"] / "fqcn-out"
    out.mkdir()
    playbook = collection["work"] / "fqcn.yml"
    playbook.write_text(FQCN_PLAYBOOK)
    proc = _run(
        [_tool("ansible-playbook"), str(playbook), "-e", "nsv_out=%s" % out], collection["env"], collection["work"]
    )
    return {
        "out": out,
        "stdout": proc.stdout,
        "facts": json.loads((out / "facts.json").read_text()),
        "roles": json.loads((out / "roles.json").read_text()),
    }


def _verdicts(facts):
    return {t: v["verdict"] for t, v in facts["types"].items()}


@pytest.fixture(scope="module")
def checkout_facts():
    """namespace_facts from the checkout's library/, in this process, as Ansible would run it."""
    import namespace_facts
    from conftest import run_module_main

    return run_module_main(namespace_facts, {})["ansible_facts"]["nsverify"]


def test_fqcn_namespace_facts_gives_the_checkouts_verdicts(fqcn_run, checkout_facts):
    facts = fqcn_run["facts"]
    assert sorted(facts["types"]) == sorted(catalog.TYPE_NAMES)  # to_nice_json sorts keys
    assert _verdicts(facts) == _verdicts(checkout_facts)
    assert facts["kernel"]["release"] == checkout_facts["kernel"]["release"]
    assert facts["cgroup"]["layout"] == checkout_facts["cgroup"]["layout"]
    assert (
        facts["userns_policy"]["unprivileged_can_create"] == checkout_facts["userns_policy"]["unprivileged_can_create"]
    )
    assert sorted(facts) == sorted(checkout_facts)


def _tree(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            out[rel] = os.readlink(path) if os.path.islink(path) else ("dir" if os.path.isdir(path) else "file")
    return out


def test_fqcn_rootfs_role_builds_the_same_tree_as_the_checkouts_module(fqcn_run, tmp_path):
    import busybox_rootfs
    from conftest import run_module_main

    ours = run_module_main(busybox_rootfs, {"base": str(tmp_path / "rootfs")})
    assert not ours.get("failed"), ours
    roles = fqcn_run["roles"]
    assert roles["rootfs_version"] == ours["version"]
    assert Path(roles["rootfs_path"]).parent == fqcn_run["out"] / "rootfs"
    assert _tree(roles["rootfs_path"]) == _tree(ours["path"])
    assert len(_tree(ours["path"])) > 100  # every applet linked


def test_fqcn_container_role_runs_its_tasks_in_check_mode(fqcn_run):
    assert fqcn_run["roles"]["container_changed"] is True  # would start it
    assert "Make sure the container is started" in fqcn_run["stdout"]
    assert not os.path.exists("/run/nsverify/containers/nsv-h4-collection")


def test_audit_playbook_runs_from_the_collection_by_name(collection, checkout_facts):
    """`ansible-playbook nsverify.namespaces.audit`: reports land under ./reports of the working directory."""
    work = collection["base"] / "audit-work"
    work.mkdir()
    env = dict(collection["env"], PWD=str(work))
    proc = _run([_tool("ansible-playbook"), "nsverify.namespaces.audit"], env, work)
    assert re.search(r"^localhost\s*:\s*ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", proc.stdout, re.M), (
        proc.stdout
    )
    host = json.loads((work / "reports" / "audit" / "localhost.json").read_text())
    assert _verdicts(host) == _verdicts(checkout_facts)
    summary = (work / "reports" / "audit" / "summary.md").read_text()
    assert "| localhost | %s |" % checkout_facts["kernel"]["release"] in summary
    assert not (collection["installed"] / "reports").exists()


# ---------------------------------------------------------------- ansible-test sanity

# ansible-test sanity as `make collection-sanity` runs it: every test on the controller Python (3.11, the venv's),
# and the tests that depend on the version (compile, import) on every other version ansible-test 2.19 supports
# for modules (3.8-3.13) that is installed here (pyenv). Older pyenv versions (2.7, 3.6, 3.7) are outside
# ansible-core 2.19's support, so ansible-test refuses them.


def _sanity_plan():
    plan, missing = collection_sanity.default_plan()
    params = [pytest.param(v, tests, id="%s-%s" % (v, "-".join(tests) or "all")) for v, tests in plan]
    for version in missing:
        skip = pytest.mark.skip(reason="python%s not installed here" % version)
        params.append(
            pytest.param(version, collection_sanity.MULTI_VERSION_TESTS, id="%s-missing" % version, marks=skip)
        )
    return params


@pytest.fixture(scope="module")
def unpacked(collection, tmp_path_factory):
    return collection_sanity.unpack(collection["artifact"], tmp_path_factory.mktemp("nsv-sanity"))


@pytest.mark.parametrize("python,tests", _sanity_plan())
def test_ansible_test_sanity_passes(unpacked, python, tests):
    rc, out, seconds = collection_sanity.run_sanity(unpacked, python, tests)
    ran = re.findall(r'^Running sanity test "([^"]+)"', out, re.M)
    print("ansible-test sanity --python %s: %d tests in %.0f s: %s" % (python, len(ran), seconds, " ".join(ran)))
    assert rc == 0, "\n".join(
        line for line in out.splitlines() if not line.startswith(("Collecting", "  Downloading"))
    )[-6000:]
    if not tests:
        assert {
            "validate-modules",
            "pylint",
            "pep8",
            "yamllint",
            "compile",
            "import",
            "ansible-doc",
            "changelog",
        } <= set(ran)
    else:
        assert set(ran) == set(tests)


def test_ansible_test_units_pass_on_the_mirrored_engine_tests(collection, tmp_path):
    """The checkout's engine-only unit tests, imports pointed at the collection's engine, under ansible-test units
    (pytest as ansible-test pins it) in an unpacked copy of the artifact."""
    coll = collection_sanity.unpack(collection["artifact"], tmp_path)
    names = collection_sanity.mirror_unit_tests(coll)
    assert "test_catalog.py" in names and "test_procfs.py" in names
    rc, out, seconds = collection_sanity.run_units(coll, collection_sanity.CONTROLLER)
    summary = re.findall(r"^=+ (.*(?:passed|failed).*) =+$", out, re.M)
    print("ansible-test units: %d files, %s in %.0f s" % (len(names), summary[-1] if summary else "?", seconds))
    assert rc == 0, out[-6000:]
    assert summary and "failed" not in summary[-1]


# ---------------------------------------------------------------- execution environment


def test_execution_environment_build_context(collection, tmp_path):
    """ansible-builder create (no image build here) writes a context with the collection, the system and the
    Python needs; the galaxy requirement names the artifact galaxy.yml's version produces."""
    version = build_collection.galaxy_version(ROOT)
    requirements = yaml.safe_load((ROOT / "execution_environment" / "requirements.yml").read_text())
    assert [c["name"] for c in requirements["collections"]] == [
        "/build/collections/nsverify-namespaces-%s.tar.gz" % version
    ]
    # the definition takes `make collection`'s artifact from .cache/collection/
    dist = ROOT / ".cache" / "collection"
    dist.mkdir(parents=True, exist_ok=True)
    shutil.copy2(collection["artifact"], dist / collection["artifact"].name)
    context = tmp_path / "context"
    _run(
        [_tool("ansible-builder"), "create", "-f", str(ROOT / "execution-environment.yml"), "-c", str(context)],
        None,
        ROOT,
    )
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-core==2.19.14" in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert (context / "_build" / "collections" / collection["artifact"].name).is_file()
    bindep = (context / "_build" / "bindep.txt").read_text()
    for package in ("util-linux", "iproute2", "busybox-static", "openssh-client"):
        assert re.search(r"^%s \[platform:dpkg\]" % re.escape(package), bindep, re.M), package
    from bindep.depends import Depends

    Depends(bindep)  # parses as bindep's grammar
