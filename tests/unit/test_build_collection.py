"""tools/build_collection.py rewrites for the staged collection, on small texts: FQCNs in YAML (only task keys
and role references), engine imports, doc references, and the two spellings ansible-test's pylint refuses."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import build_collection as bc  # noqa: E402

MODULES = {"namespace_facts", "busybox_container", "busybox_container_verify"}
ROLES = {"busybox_rootfs", "busybox_container"}


@pytest.mark.parametrize(
    "kind,text,want",
    [
        (
            "tasks",
            "- name: Start\n  busybox_container:\n    name: box\n",
            "- name: Start\n  nsverify.namespaces.busybox_container:\n    name: box\n",
        ),
        (
            "tasks",
            "- name: Gate\n  when: busybox_container_verify | bool\n  vars:\n    busybox_container_verify: true\n"
            "  ansible.builtin.debug:\n    msg: hi\n",
            None,  # a variable sharing a module's name is left alone
        ),
        (
            "tasks",
            "- name: Block\n  block:\n    - namespace_facts:  # inline comment stays\n",
            "- name: Block\n  block:\n    - nsverify.namespaces.namespace_facts:  # inline comment stays\n",
        ),
        (
            "tasks",
            "- name: Role\n  ansible.builtin.import_role:\n    name: busybox_rootfs\n",
            "- name: Role\n  ansible.builtin.import_role:\n    name: nsverify.namespaces.busybox_rootfs\n",
        ),
        (
            "playbook",
            "- hosts: all\n  roles:\n    - busybox_rootfs\n    - role: busybox_container\n  post_tasks:\n"
            "    - namespace_facts:\n",
            "- hosts: all\n  roles:\n    - nsverify.namespaces.busybox_rootfs\n"
            "    - role: nsverify.namespaces.busybox_container\n  post_tasks:\n"
            "    - nsverify.namespaces.namespace_facts:\n",
        ),
    ],
    ids=["module-key", "variable-not-renamed", "block-and-comment", "import-role", "play-roles-and-tasks"],
)
def test_rewrite_yaml_qualifies_task_keys_and_roles(kind, text, want):
    new = bc.rewrite_yaml(text, MODULES, ROLES, kind)
    assert new == (text if want is None else want)
    assert bc.leftover_short_names(new, MODULES, ROLES, kind) == []


def test_engine_imports_and_doc_references():
    src = "from ansible.module_utils.nsverify import catalog\nfrom ansible.module_utils.nsverify.proofs import base\n"
    out = bc.rewrite_python(src)
    assert "ansible.module_utils.nsverify" not in out
    assert "from ansible_collections.nsverify.namespaces.plugins.module_utils.nsverify.proofs import base" in out
    doc = "see M(namespace_facts) and M(ansible.builtin.command)\nseealso:\n  - module: namespace_facts\n"
    assert bc.qualify_doc_references(doc, MODULES) == (
        "see M(nsverify.namespaces.namespace_facts) and M(ansible.builtin.command)\n"
        "seealso:\n  - module: nsverify.namespaces.namespace_facts\n"
    )


@pytest.mark.parametrize(
    "src,want",
    [
        ("a, _ = f()\n", "a, _unused = f()\n"),
        ("for _ in range(3):\n    x = obj._\n", "for _unused in range(3):\n    x = obj._\n"),
        ("f = lambda _: 1\n", "f = lambda _unused: 1\n"),
        ('s = "_ stays in strings"  # and _ in comments\n', 's = "_ stays in strings"  # and _ in comments\n'),
        ("subprocess.run(argv, capture_output=True)\n", "subprocess.run(argv, capture_output=True, check=False)\n"),
        (
            "subprocess.run(\n    argv,\n    timeout=3,\n)\n",
            "subprocess.run(\n    argv,\n    timeout=3, check=False,\n)\n",
        ),
        ("subprocess.run(argv, check=True)\n", "subprocess.run(argv, check=True)\n"),
    ],
    ids=["tuple", "loop-not-attribute", "lambda", "strings-comments", "run", "run-trailing-comma", "run-checked"],
)
def test_pylint_compat_renames_throwaway_and_spells_out_check(src, want):
    assert bc.pylint_compat(src) == want


def test_every_module_and_engine_file_is_spelled_as_ansible_test_s_pylint_wants():
    """The build copies the sources as they are (no code rewrite): `_` as a name and subprocess.run without
    check= would fail ansible-test sanity on the artifact. Fix: tools/build_collection.py --respell."""
    problems = []
    for top in ("library", "module_utils"):
        for path in sorted((ROOT / top).rglob("*.py")):
            problems += bc.pylint_problems(path.read_text(), path.relative_to(ROOT))
    assert problems == [], "respell with: .venv/bin/python tools/build_collection.py --respell\n" + "\n".join(problems)


def test_the_build_refuses_a_source_pylint_would_refuse_naming_the_line(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    (src / "bad.py").write_text("import subprocess\n\nfor _ in range(2):\n    subprocess.run(['true'])\n")
    with pytest.raises(bc.BuildError) as exc:
        bc.copy_python_tree(src, dest)
    assert "bad.py:3: `_` as a name" in str(exc.value) and "bad.py:4: check=False missing" in str(exc.value)
    assert "--respell" in str(exc.value)
