#!/usr/bin/env python3
"""Run `ansible-test sanity` on the built nsverify.namespaces collection.

    tools/collection_sanity.py [--artifact TARBALL] [--python 3.11 ...] [--test NAME ...] [--workdir DIR]

Without --python: every test on the controller Python (the venv's 3.11), compile and import on each other Python
ansible-test supports (3.8-3.13) that is installed (PATH or pyenv).

Unpacks the artifact (default: build it with tools/build_collection.py) into
WORKDIR/ansible_collections/nsverify/namespaces (default: a temporary directory outside the checkout) --
ansible-test only runs from inside such a tree -- and runs
ansible-test sanity there once per Python version, with --requirements so that every test gets the tool versions
ansible-test pins, in its own virtual environment.

ansible-test keeps those environments under ~/.ansible/test; this script points HOME at
.cache/ansible-test-home of the checkout instead, so the user's home is left alone and later runs reuse them.
ansible-test bootstraps pip into each new environment with a get-pip script it downloads from a CI file host;
that host is not reachable from every machine (it is not here), so the cache slot is filled with a stand-in
that does the same from the interpreter's own ensurepip and the configured package index.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import build_collection  # noqa: E402

GET_PIP_STANDIN = '''"""Stand-in for get-pip.py, written by nsverify's tools/collection_sanity.py.

ansible-test runs it as `python get_pip.py [pip options] pip==X ...` in a virtual environment made without pip.
"""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q"] + args)
'''

# ansible-test 2.19 runs every sanity test on the controller Python; on the other Pythons it supports for modules
# (3.8-3.13) only the tests that depend on the version, compile and import, mean anything.
CONTROLLER = "%d.%d" % sys.version_info[:2]
MULTI_VERSION_TESTS = ("compile", "import")


def supported_pythons():
    from ansible_test._internal.constants import SUPPORTED_PYTHON_VERSIONS

    return tuple(SUPPORTED_PYTHON_VERSIONS)


def default_plan():
    """[(python, tests)]: all tests on the controller, compile and import on every other supported Python
    found here; and the versions skipped because they are not installed."""
    found, missing = available_pythons(supported_pythons())
    plan = [(CONTROLLER, ())] + [(v, MULTI_VERSION_TESTS) for v in found if v != CONTROLLER]
    return plan, missing


def pyenv_dirs():
    """bin directories of pyenv's interpreters, so ansible-test finds python3.X for --python 3.X."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    return sorted(glob.glob(os.path.join(root, "versions", "*", "bin")))


def available_pythons(supported):
    """(found, missing) among `supported` versions, looking on PATH and in pyenv."""
    path = os.pathsep.join([os.environ.get("PATH", "")] + pyenv_dirs())
    found = [v for v in supported if shutil.which("python" + v, path=path)]
    return found, [v for v in supported if v not in found]


def ansible_test_pip_version():
    from ansible_test._internal.python_requirements import get_venv_packages

    class _Python:
        version = "3.11"

    return get_venv_packages(_Python())["pip"]


def prepare_home(home):
    cache = Path(home) / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    standin = cache / ("get_pip_%s.py" % ansible_test_pip_version().replace(".", "_"))
    if not standin.exists() or standin.read_text() != GET_PIP_STANDIN:
        standin.write_text(GET_PIP_STANDIN)
    return home


def unpack(artifact, workdir):
    coll = Path(workdir) / "ansible_collections" / build_collection.NAMESPACE / build_collection.NAME
    if coll.exists():
        shutil.rmtree(coll)
    coll.mkdir(parents=True)
    with tarfile.open(artifact) as tar:
        tar.extractall(coll)  # our own artifact, built a moment ago
    return coll


# Unit tests of the engine alone (no module, no conftest, no path of the checkout, no sibling test module) run
# unchanged under ansible-test units once their imports name the collection's engine.
NOT_ENGINE_ONLY = re.compile(
    r"^(from|import) (conftest|test_|namespace|busybox|nsverify_|library)|ROOT|Path\(__file__\)|sys\.path", re.M
)


def mirror_unit_tests(coll, root=ROOT):
    """Copy the checkout's engine-only unit tests (and their fixtures) into coll/tests/unit/plugins/module_utils/
    nsverify/, imports rewritten; only into the unpacked tree, the artifact ships no tests. Returns their names."""
    dest = Path(coll) / "tests" / "unit" / "plugins" / "module_utils" / "nsverify"
    dest.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted((root / "tests" / "unit").glob("test_*.py")):
        text = path.read_text()
        if not NOT_ENGINE_ONLY.search(text):
            (dest / path.name).write_text(build_collection.rewrite_python(text))
            names.append(path.name)
    fixtures = root / "tests" / "unit" / "fixtures"
    if fixtures.is_dir():
        shutil.copytree(fixtures, dest / "fixtures", dirs_exist_ok=True)
    return names


def _ansible_test_env(home):
    env = dict(os.environ)
    # pyenv's real interpreters before its shims: ansible-test re-executes itself under a controller Python it
    # finds on PATH and refuses a shim (sys.executable then differs from the path it started).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent)] + pyenv_dirs() + [env.get("PATH", "")])
    env["HOME"] = str(prepare_home(home or ROOT / ".cache" / "ansible-test-home"))
    env.pop("ANSIBLE_CONFIG", None)  # the checkout's ansible.cfg names library/ and module_utils/
    return env


def run_units(coll, python, home=None, timeout=900):
    """ansible-test units on the mirrored tests; (returncode, output, seconds)."""
    exe = Path(sys.executable).parent / "ansible-test"
    cmd = [str(exe), "units", "--python", python, "--requirements", "--color", "no"]
    start = time.monotonic()
    proc = subprocess.run(
        cmd,
        cwd=coll,
        env=_ansible_test_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, time.monotonic() - start


def run_sanity(coll, python, tests=(), home=None, timeout=900):
    """Run ansible-test sanity for one Python version; return (returncode, output, seconds)."""
    exe = Path(sys.executable).parent / "ansible-test"
    env = _ansible_test_env(home)
    cmd = [str(exe), "sanity", "--python", python, "--requirements", "--color", "no"]
    for test in tests:
        cmd += ["--test", test]
    start = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=coll, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    return proc.returncode, proc.stdout, time.monotonic() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", help="collection tarball (default: build one now)")
    parser.add_argument(
        "--python",
        action="append",
        help="Python version (repeatable; default: all tests on 3.11, compile and import on the rest)",
    )
    parser.add_argument("--test", action="append", default=[], help="only this sanity test (repeatable)")
    parser.add_argument("--units", action="store_true", help="also ansible-test units on the mirrored engine tests")
    parser.add_argument("--workdir", help="where to unpack (default: a new temporary directory, removed after)")
    args = parser.parse_args(argv)
    artifact = args.artifact or build_collection.build(build_collection.stage(ROOT), ROOT / ".cache" / "collection")
    # Not inside the checkout: ansible-test lists a tree inside a git work tree with git, and the unpacked
    # collection there would be ignored (.cache/ is), leaving it nothing to test.
    workdir = args.workdir or tempfile.mkdtemp(prefix="nsv-sanity-")
    coll = unpack(artifact, workdir)
    if args.python:
        found, missing = available_pythons(args.python)
        plan = [(v, tuple(args.test)) for v in found]
    else:
        plan, missing = default_plan()
        plan = [(v, tuple(args.test) or tests) for v, tests in plan]
    for version in missing:
        print("python%s: not found on PATH or in pyenv, skipped" % version)
    worst = 0
    for version, tests in plan:
        rc, out, seconds = run_sanity(coll, version, tests)
        print(out)
        print(
            "ansible-test sanity --python %s %s: rc=%d in %.0f s" % (version, " ".join(tests) or "(all)", rc, seconds)
        )
        worst = worst or rc
    if args.units:
        print("mirrored unit tests: %s" % " ".join(mirror_unit_tests(coll)))
        rc, out, seconds = run_units(coll, CONTROLLER)
        print(out)
        print("ansible-test units --python %s: rc=%d in %.0f s" % (CONTROLLER, rc, seconds))
        worst = worst or rc
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return worst


if __name__ == "__main__":
    sys.exit(main())
