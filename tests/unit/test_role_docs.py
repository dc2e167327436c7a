"""Each role variable is documented once, in meta/argument_specs.yml: defaults/main.yml holds the same
variables with the same defaults, and the README's variables table is the one tools/role_docs.py
generates from it (run `.venv/bin/python tools/role_docs.py` after changing a spec)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("role_docs", ROOT / "tools" / "role_docs.py")
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)

ROLES = role_docs.role_dirs()
IDS = [r.name for r in ROLES]


def test_every_role_has_an_argument_spec():
    with_tasks = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/tasks/main.yml"))
    assert with_tasks == IDS


@pytest.mark.parametrize("role_dir", ROLES, ids=IDS)
def test_defaults_and_argument_specs_list_the_same_variables(role_dir):
    specs, defaults = role_docs.options(role_dir), role_docs.defaults(role_dir)
    assert sorted(set(defaults) - set(specs)) == [], "in defaults/main.yml but not in meta/argument_specs.yml"
    assert sorted(set(specs) - set(defaults)) == [], "in meta/argument_specs.yml but not in defaults/main.yml"


@pytest.mark.parametrize("role_dir", ROLES, ids=IDS)
def test_defaults_are_the_documented_ones(role_dir):
    specs, defaults = role_docs.options(role_dir), role_docs.defaults(role_dir)
    wrong = {
        n: (defaults[n], specs[n].get("default")) for n in defaults if specs.get(n, {}).get("default") != defaults[n]
    }
    assert wrong == {}, "variable: (defaults/main.yml, argument_specs default)"


@pytest.mark.parametrize("role_dir", ROLES, ids=IDS)
def test_every_variable_has_a_type_and_a_description(role_dir):
    bad = [n for n, s in role_docs.options(role_dir).items() if not s.get("type") or not s.get("description")]
    assert bad == []


@pytest.mark.parametrize("role_dir", ROLES, ids=IDS)
def test_readme_variables_table_is_generated_from_the_spec(role_dir):
    text = (role_dir / "README.md").read_text()
    assert role_docs.render(text, role_dir) == text, "run .venv/bin/python tools/role_docs.py"


def test_check_mode_names_a_stale_readme(tmp_path):
    role = tmp_path / "roles" / "nsv_demo"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n      nsv_demo_x:\n        type: int\n        default: 1\n"
        "        description: A number.\n"
    )
    (role / "README.md").write_text("# nsv_demo\n\n%s\n| old |\n%s\n" % (role_docs.BEGIN, role_docs.END))
    assert role_docs.out_of_date(tmp_path) == ["roles/nsv_demo/README.md"]
    fresh = role_docs.render((role / "README.md").read_text(), role)
    assert "| `nsv_demo_x` | int | `1` | A number. |" in fresh
    (role / "README.md").write_text(fresh)
    assert role_docs.out_of_date(tmp_path) == []
