#!/usr/bin/env python3
"""Build the nsverify.namespaces collection from this checkout, which keeps its own layout.

    tools/build_collection.py [--stage DIR] [--output-dir DIR] [--no-build]
    tools/build_collection.py --respell      # respell `_` and unchecked subprocess.run in the checkout itself

Stages DIR/ansible_collections/nsverify/namespaces/ (default DIR: .cache/collection/stage) with
  plugins/modules/        library/*.py
  plugins/module_utils/   module_utils/nsverify/, imports rewritten to the collection's path; a source that
                          uses a spelling ansible-test's pylint refuses stops the build naming its lines
                          (see pylint_compat; --respell fixes the checkout)
  roles/, playbooks/      short module and role names rewritten to FQCNs (nsverify.namespaces.<name>)
  meta/runtime.yml, galaxy.yml, README.md, changelogs/ (+ CHANGELOG.rst from the fragments),
  tests/sanity/           ansible-test ignore files: the license entries every module needs (the collection is
                          not GPLv3) plus the checkout's tests/sanity/ignore-*.txt
then runs `ansible-galaxy collection build` into the output directory (default .cache/collection) and prints
the artifact's path. The build never changes the checkout nor the code: the staged copy differs from it only
by import paths and FQCNs.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "nsverify"
NAME = "namespaces"
FQ_PREFIX = "%s.%s." % (NAMESPACE, NAME)
ENGINE_IMPORT = re.compile(r"\bansible\.module_utils\.nsverify\b")
ENGINE_COLLECTION = "ansible_collections.%s.%s.plugins.module_utils.nsverify" % (NAMESPACE, NAME)
TASK_LIST_KEYS = ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always")
ROLE_TASK_KEYS = ("include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role")
# Where the checkout puts reports (next to the checkout: the playbooks' directory's parent) and where the
# collection puts them: under ./reports of the directory ansible-playbook runs in, not inside the installed
# collection (playbook_dir of a collection's playbook is in the collection).
CHECKOUT_REPORTS = re.compile(r"\{\{ playbook_dir \| dirname \}\}/reports|\{\{ playbook_dir \}\}/\.\./reports")
CWD_REPORTS = "{{ lookup('ansible.builtin.env', 'PWD', default=playbook_dir | dirname) }}/reports"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


class BuildError(Exception):
    pass


def galaxy_version(root=ROOT):
    with open(root / "galaxy.yml") as fh:
        meta = yaml.safe_load(fh)
    if (meta.get("namespace"), meta.get("name")) != (NAMESPACE, NAME):
        raise BuildError("galaxy.yml must name %s.%s" % (NAMESPACE, NAME))
    return str(meta["version"])


def module_names(root=ROOT):
    return sorted(p.stem for p in (root / "library").glob("*.py"))


def role_names(root=ROOT):
    return sorted(p.name for p in (root / "roles").iterdir() if (p / "tasks").is_dir())


# ---------------------------------------------------------------- Python: engine imports


def rewrite_python(text):
    """The engine and modules import ansible.module_utils.nsverify (the checkout's module_utils path);
    inside the collection that package lives under plugins/module_utils."""
    return ENGINE_IMPORT.sub(ENGINE_COLLECTION, text)


THROWAWAY = "_unused"


class _Expected(ast.NodeTransformer):
    """The AST the pylint rewrite must produce: `_` renamed, check=False on subprocess.run calls without it."""

    def visit_Name(self, node):
        if node.id == "_":
            node.id = THROWAWAY
        return node

    def visit_arg(self, node):
        if node.arg == "_":
            node.arg = THROWAWAY
        return self.generic_visit(node)

    def visit_Call(self, node):
        self.generic_visit(node)
        if _is_unchecked_run(node):
            node.keywords.append(ast.keyword(arg="check", value=ast.Constant(value=False)))
        return node


def _is_unchecked_run(node):
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "run"
        and isinstance(func.value, ast.Name)
        and func.value.id == "subprocess"
        and not any(k.arg == "check" for k in node.keywords)
    )


def pylint_compat(text, where="<engine>"):
    """Two spellings ansible-test's pylint refuses and that an ignore file cannot excuse: `_` as a throwaway
    name (ansible-core reserves it: disallowed-name) and subprocess.run without check= (the engine reads
    returncode itself). The respelled text has `_unused` and an explicit check=False, which is what the code
    means; it is checked to differ from the original only by that. The checkout is spelled so (--respell
    writes it; tests/unit/test_build_collection.py keeps it so), and the build refuses a source that is not."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    edits = []  # (offset, length to replace, new text)
    previous = None
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and tok.string == "_" and not (previous and previous.string == "."):
            edits.append((offsets[tok.start[0] - 1] + tok.start[1], 1, THROWAWAY))
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            previous = tok
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_unchecked_run(node):
            close = offsets[node.end_lineno - 1] + node.end_col_offset - 1  # the closing parenthesis
            before = text[:close].rstrip()
            edits.append((len(before), 0, " check=False," if before.endswith(",") else ", check=False"))
    for offset, length, new in sorted(edits, reverse=True):
        text = text[:offset] + new + text[offset + length :]
    if ast.dump(ast.parse(text)) != ast.dump(_Expected().visit(tree)):
        raise BuildError("%s: the pylint rewrite changed more than names and check=False" % where)
    return text


def pylint_problems(text, where="<engine>"):
    """['path:line: what'] of every line pylint_compat would respell; [] when the source is spelled right."""
    new = pylint_compat(text, where)
    if new == text:
        return []
    old_lines, new_lines = text.splitlines(), new.splitlines()
    out = []
    for number, (old, now) in enumerate(zip(old_lines, new_lines), 1):
        if old != now:
            what = "check=False missing" if "check=False" in now and "check=False" not in old else "`_` as a name"
            out.append("%s:%d: %s" % (where, number, what))
    return out


def respell_checkout(root=ROOT):
    """Respell every module and engine file of the checkout in place; the paths changed."""
    changed = []
    for top in (root / "library", root / "module_utils"):
        for path in sorted(top.rglob("*.py")):
            text = path.read_text()
            new = pylint_compat(text, path)
            if new != text:
                path.write_text(new)
                changed.append(path)
    return changed


def qualify_doc_references(text, modules):
    """M(name) and seealso entries name the checkout's modules by short name; a collection's docs must use
    FQCNs (validate-modules checks it)."""
    names = "|".join(re.escape(m) for m in sorted(modules, key=len, reverse=True))
    text = re.sub(r"\bM\((%s)\)" % names, lambda m: "M(%s%s)" % (FQ_PREFIX, m.group(1)), text)
    return re.sub(r"(?m)^([ \t]*- module: )(%s)[ \t]*$" % names, lambda m: m.group(1) + FQ_PREFIX + m.group(2), text)


def copy_python_tree(src, dest, modules=None):
    for path in sorted(src.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = path.read_text()
        problems = pylint_problems(source, path)
        if problems:
            raise BuildError(
                "ansible-test's pylint refuses these spellings (name a throwaway `_unused`, give subprocess.run "
                "check=False when the code reads returncode itself; `tools/build_collection.py --respell` does "
                "both): %s" % "; ".join(problems)
            )
        text = rewrite_python(source)
        if modules:
            text = qualify_doc_references(text, modules)
        target.write_text(text)
        shutil.copymode(path, target)


# ---------------------------------------------------------------- YAML: FQCNs


def _scalar(node):
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _task_list_edits(seq, modules, roles, edits):
    if not isinstance(seq, yaml.SequenceNode):
        return
    for task in seq.value:
        if isinstance(task, yaml.MappingNode):
            _task_edits(task, modules, roles, edits)


def _task_edits(task, modules, roles, edits):
    for key, value in task.value:
        name = _scalar(key)
        if name in modules:
            edits.append((key.start_mark.line, key.start_mark.column, name))
        elif name in TASK_LIST_KEYS:
            _task_list_edits(value, modules, roles, edits)
        elif name in ROLE_TASK_KEYS and isinstance(value, yaml.MappingNode):
            for rkey, rvalue in value.value:
                if _scalar(rkey) == "name" and _scalar(rvalue) in roles:
                    edits.append((rvalue.start_mark.line, rvalue.start_mark.column, rvalue.value))


def _play_edits(play, modules, roles, edits):
    for key, value in play.value:
        name = _scalar(key)
        if name in TASK_LIST_KEYS:
            _task_list_edits(value, modules, roles, edits)
        elif name == "roles" and isinstance(value, yaml.SequenceNode):
            for entry in value.value:
                node = entry
                if isinstance(entry, yaml.MappingNode):
                    node = next((v for k, v in entry.value if _scalar(k) == "role"), None)
                if node is not None and _scalar(node) in roles:
                    edits.append((node.start_mark.line, node.start_mark.column, node.value))


def fqcn_edits(text, modules, roles, kind):
    """(line, column, short name) of every module key of a task and every role reference, found by
    YAML's own parser so that a variable that happens to share a module's name is left alone."""
    doc = yaml.compose(text, Loader=yaml.SafeLoader)
    edits = []
    if isinstance(doc, yaml.SequenceNode):
        for item in doc.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            if kind == "playbook":
                _play_edits(item, modules, roles, edits)
            else:
                _task_edits(item, modules, roles, edits)
    return edits


def apply_edits(text, edits):
    lines = text.splitlines(keepends=True)
    for line, column, short in sorted(edits, reverse=True):
        current = lines[line]
        if not current.startswith(short, column):
            raise BuildError("line %d: expected %r at column %d" % (line + 1, short, column))
        lines[line] = current[:column] + FQ_PREFIX + current[column:]
    return "".join(lines)


def _renamed(data, modules, roles, kind):
    """What the rewritten file must parse to: the original data with the FQCNs put in."""

    def task(t):
        out = {}
        for k, v in t.items():
            if k in modules:
                k = FQ_PREFIX + k
            elif k in TASK_LIST_KEYS and isinstance(v, list):
                v = [task(x) if isinstance(x, dict) else x for x in v]
            elif k in ROLE_TASK_KEYS and isinstance(v, dict) and v.get("name") in roles:
                v = dict(v, name=FQ_PREFIX + v["name"])
            out[k] = v
        return out

    def role(r):
        if isinstance(r, str) and r in roles:
            return FQ_PREFIX + r
        if isinstance(r, dict) and r.get("role") in roles:
            return dict(r, role=FQ_PREFIX + r["role"])
        return r

    def play(p):
        out = {}
        for k, v in p.items():
            if k in TASK_LIST_KEYS and isinstance(v, list):
                v = [task(x) if isinstance(x, dict) else x for x in v]
            elif k == "roles" and isinstance(v, list):
                v = [role(x) for x in v]
            out[k] = v
        return out

    if not isinstance(data, list):
        return data
    convert = play if kind == "playbook" else task
    return [convert(x) if isinstance(x, dict) else x for x in data]


def rewrite_yaml(text, modules, roles, kind):
    """Put FQCNs into a playbook or task file, keeping its comments and layout; the result is checked
    to parse to exactly the original with the names qualified."""
    edits = fqcn_edits(text, modules, roles, kind)
    new = apply_edits(text, edits)
    want = _renamed(yaml.safe_load(text), modules, roles, kind)
    if yaml.safe_load(new) != want:
        raise BuildError("FQCN rewrite changed more than the names")
    return new


def leftover_short_names(text, modules, roles, kind):
    """Short names still used after a rewrite (should be none)."""
    return sorted({short for _, _, short in fqcn_edits(text, modules, roles, kind)})


# ---------------------------------------------------------------- the staged tree


def reports_in_working_directory(text):
    return CHECKOUT_REPORTS.sub(lambda m: CWD_REPORTS, text)


def stage_roles(root, coll, modules, roles):
    for role in roles:
        dest = coll / "roles" / role
        shutil.copytree(root / "roles" / role, dest, ignore=IGNORED)
        for sub in ("tasks", "handlers"):
            for path in sorted((dest / sub).glob("*.yml")):
                path.write_text(rewrite_yaml(path.read_text(), modules, roles, "tasks"))
        for path in sorted(dest.glob("*/*.yml")):
            path.write_text(reports_in_working_directory(path.read_text()))


def stage_playbooks(root, coll, modules, roles):
    dest = coll / "playbooks"
    shutil.copytree(root / "playbooks", dest, ignore=IGNORED)
    for path in sorted(dest.glob("*.yml")):
        text = rewrite_yaml(path.read_text(), modules, roles, "playbook")
        path.write_text(reports_in_working_directory(text))


def stage_changelog(root, coll, version):
    shutil.copytree(root / "changelogs", coll / "changelogs", ignore=IGNORED)
    # The staged tree may sit in a git-ignored directory of the checkout: with vcs=auto antsibull-changelog
    # would then see no file at all.
    config = coll / "changelogs" / "config.yaml"
    config.write_text(re.sub(r"(?m)^vcs: .*$", "vcs: none", config.read_text()))
    with open(coll / "changelogs" / "changelog.yaml") as fh:
        released = (yaml.safe_load(fh) or {}).get("releases") or {}
    # antsibull-changelog runs ansible-doc to list new modules: the same environment's first.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    tool = shutil.which("antsibull-changelog", path=env["PATH"])
    if not tool:
        raise BuildError("antsibull-changelog not found: pip install -r requirements.txt")
    # Unreleased fragments become this version's entry in the staged copy only; a maintainer runs
    # `antsibull-changelog release` in the checkout when the version is tagged.
    cmd = [tool, "generate"] if version in released else [tool, "release", "--version", version]
    proc = subprocess.run(cmd, cwd=coll, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError("antsibull-changelog %s failed: %s%s" % (" ".join(cmd[1:]), proc.stdout, proc.stderr))


def license_ignores(root, modules):
    """validate-modules wants a GPLv3 header in every module; this collection is licensed as galaxy.yml says
    (MIT, like the roles), so every module gets the same ignore entry, with that reason."""
    with open(root / "galaxy.yml") as fh:
        licenses = yaml.safe_load(fh).get("license") or []
    if any(name.startswith("GPL-3.0") for name in licenses):
        return []
    reason = "licensed %s (galaxy.yml), not GPLv3: no GPL header to find" % " or ".join(licenses)
    return ["plugins/modules/%s.py validate-modules:missing-gplv3-license # %s" % (m, reason) for m in modules]


def stage_sanity_ignores(root, coll, modules):
    """tests/sanity/ignore-<core>.txt of the collection: the license entries above, then the checkout's
    tests/sanity/ignore-<core>.txt (entries written by hand, each with its reason)."""
    dest = coll / "tests" / "sanity"
    dest.mkdir(parents=True, exist_ok=True)
    sources = sorted((root / "tests" / "sanity").glob("ignore-*.txt")) or [
        root / "tests" / "sanity" / "ignore-2.19.txt"
    ]
    for src in sources:
        lines = license_ignores(root, modules)
        if src.is_file():
            lines += [line for line in src.read_text().splitlines() if line.strip()]
        (dest / src.name).write_text("".join(line + "\n" for line in lines))


def stage(root=ROOT, stage_dir=None):
    """Lay out the collection under stage_dir/ansible_collections/nsverify/namespaces; return that path."""
    stage_dir = Path(stage_dir or root / ".cache" / "collection" / "stage")
    coll = stage_dir / "ansible_collections" / NAMESPACE / NAME
    if coll.exists():
        shutil.rmtree(coll)
    coll.mkdir(parents=True)
    version = galaxy_version(root)
    modules, roles = module_names(root), role_names(root)
    for name in ("galaxy.yml", "README.md"):
        shutil.copy2(root / name, coll / name)
    (coll / "meta").mkdir()
    shutil.copy2(root / "meta" / "runtime.yml", coll / "meta" / "runtime.yml")
    copy_python_tree(root / "library", coll / "plugins" / "modules", modules)
    copy_python_tree(root / "module_utils" / "nsverify", coll / "plugins" / "module_utils" / "nsverify")
    stage_roles(root, coll, modules, roles)
    stage_playbooks(root, coll, modules, roles)
    stage_sanity_ignores(root, coll, modules)
    stage_changelog(root, coll, version)
    for path in coll.rglob("*.py"):
        if ENGINE_IMPORT.search(path.read_text()):
            raise BuildError("%s still imports ansible.module_utils.nsverify" % path)
    return coll


def build(coll, output_dir):
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).parent / "ansible-galaxy"
    cmd = [str(exe) if exe.exists() else "ansible-galaxy", "collection", "build", "--force"]
    proc = subprocess.run(cmd + ["--output-path", str(output_dir), str(coll)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError("ansible-galaxy collection build failed: %s%s" % (proc.stdout, proc.stderr))
    artifact = output_dir / ("%s-%s-%s.tar.gz" % (NAMESPACE, NAME, galaxy_version(coll)))
    if not artifact.is_file():
        raise BuildError("ansible-galaxy did not write %s: %s" % (artifact, proc.stdout))
    return artifact


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", help="staging directory (default .cache/collection/stage)")
    parser.add_argument("--output-dir", default=str(ROOT / ".cache" / "collection"), help="where the tarball goes")
    parser.add_argument("--no-build", action="store_true", help="only stage the tree")
    parser.add_argument("--respell", action="store_true", help="respell the checkout's sources for pylint, then stop")
    args = parser.parse_args(argv)
    if args.respell:
        for path in respell_checkout(ROOT):
            print("respelled %s (run ruff format on it)" % path)
        return 0
    try:
        coll = stage(ROOT, args.stage)
        print("staged %s" % coll)
        if not args.no_build:
            print("built %s" % build(coll, args.output_dir))
    except BuildError as exc:
        print("build_collection: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
