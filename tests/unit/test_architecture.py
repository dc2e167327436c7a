"""The house rules of docs/ARCHITECTURE.md, kept by tests so that they stay true.

- no engine file over 600 lines and no function over 80 (a room a newcomer can read);
- nobody reaches into another module's private names (`container._remove_tree`);
- the engine imports no Ansible (except the module_utils namespace it lives in);
- the namespace type lists written in YAML are the catalogue's.
"""

import ast
from pathlib import Path

import pytest
import yaml

from ansible.module_utils.nsverify import catalog

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "module_utils" / "nsverify"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80


def _py_files(*dirs):
    for d in dirs:
        yield from sorted((ROOT / d).rglob("*.py"))


def _rel(path):
    return str(path.relative_to(ROOT))


def test_no_engine_file_is_over_600_lines():
    long = {
        _rel(p): n
        for p in _py_files("module_utils/nsverify")
        if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert not long, "engine files over %d lines: %s" % (MAX_FILE_LINES, long)


def _functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_no_function_is_over_80_lines():
    long = {}
    for p in _py_files("module_utils/nsverify", "library"):
        for fn in _functions(ast.parse(p.read_text())):
            n = fn.end_lineno - fn.lineno + 1
            if n > MAX_FUNCTION_LINES:
                long["%s:%d %s" % (_rel(p), fn.lineno, fn.name)] = n
    assert not long, "functions over %d lines: %s" % (MAX_FUNCTION_LINES, long)


def _nsverify_imports(tree):
    """{local name: module path} of the nsverify modules a file imports, and the private names it imports."""
    modules, private = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and "nsverify" in node.module:
            for alias in node.names:
                if alias.name.startswith("_"):
                    private.append("from %s import %s" % (node.module, alias.name))
                modules[alias.asname or alias.name] = "%s.%s" % (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if "nsverify" in alias.name:
                    modules[alias.asname or alias.name.split(".")[0]] = alias.name
    return modules, private


def test_no_module_reaches_into_private_names_of_another():
    found = []
    for p in _py_files("module_utils/nsverify", "library", "tests", "bench"):
        tree = ast.parse(p.read_text())
        modules, private = _nsverify_imports(tree)
        found += ["%s: %s" % (_rel(p), x) for x in private]
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
            ):
                found.append("%s:%d %s.%s" % (_rel(p), node.lineno, node.value.id, node.attr))
    assert not found, "private names used across modules: %s" % sorted(set(found))


def test_the_engine_imports_no_ansible():
    found = []
    for p in _py_files("module_utils/nsverify"):
        for node in ast.walk(ast.parse(p.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [
                "%s: %s" % (_rel(p), n)
                for n in names
                if n.startswith("ansible") and not n.startswith("ansible.module_utils.nsverify")
            ]
    assert not found, found


def _yaml_files():
    for d in ("roles", "playbooks", "molecule", "inventory"):
        yield from sorted((ROOT / d).rglob("*.yml"))


def _type_lists(node, path=()):
    """Every list in a YAML document whose items are all namespace type names (2 or more)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _type_lists(v, path + (str(k),))
    elif isinstance(node, list):
        if len(node) >= 2 and all(isinstance(x, str) and x in catalog.TYPES for x in node):
            yield path, node
        for i, v in enumerate(node):
            yield from _type_lists(v, path + (str(i),))


def _all_type_lists():
    out = []
    for p in _yaml_files():
        try:
            docs = list(yaml.safe_load_all(p.read_text()))
        except yaml.YAMLError:
            continue
        for doc in docs:
            for path, items in _type_lists(doc):
                out.append(("%s:%s" % (_rel(p), ".".join(path)), items))
    return out


@pytest.mark.parametrize("where,items", _all_type_lists(), ids=[w for w, _ in _all_type_lists()])
def test_yaml_type_lists_follow_the_catalogue(where, items):
    """A list of all types is the catalogue's, in its order; a subset keeps the catalogue's order."""
    assert len(set(items)) == len(items), "duplicate types in %s" % where
    assert items == [t for t in catalog.TYPE_NAMES if t in items], "%s lists %s; the catalogue's order is %s" % (
        where,
        items,
        list(catalog.TYPE_NAMES),
    )
