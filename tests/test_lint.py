"""ansible-lint --profile production is the bar for roles and playbooks."""

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ansible_lint_production_profile(tmp_path):
    exe = shutil.which("ansible-lint") or str(ROOT / ".venv/bin/ansible-lint")
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(tmp_path / "ansible"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
    )
    res = subprocess.run(
        [exe, "--profile", "production", "--offline", "--nocolor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]


def _ruff(*args):
    exe = shutil.which("ruff") or str(ROOT / ".venv/bin/ruff")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_lint_passes():
    res = _ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]


def test_ruff_format_is_applied():
    res = _ruff("format", "--no-cache", "--check", ".")
    assert res.returncode == 0, "run `ruff format .`:\n" + res.stdout[-6000:] + res.stderr[-2000:]
