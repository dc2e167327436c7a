"""namespace, namespace_verify and namespace_facts document what their argument_spec takes.

DOCUMENTATION, EXAMPLES and RETURN must be YAML (ansible-doc refuses the module otherwise), and
every option's type, elements, default, choices and required flag must be the argument_spec's,
so that a changed option (namespace_verify's id maps, for one) cannot leave its doc behind.
"""

import namespace
import namespace_facts
import namespace_verify
import pytest
import yaml

MODULES = [namespace, namespace_verify, namespace_facts]
IDS = [m.__name__ for m in MODULES]


def _spec(module, monkeypatch):
    captured = {}

    def fake(**kwargs):
        captured.update(kwargs)
        return kwargs

    monkeypatch.setattr(module, "AnsibleModule", fake)
    module.build_module()
    return captured["argument_spec"]


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_doc_examples_and_return_are_yaml(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["module"] == module.__name__
    assert isinstance(yaml.safe_load(module.EXAMPLES), list)
    assert isinstance(yaml.safe_load(module.RETURN), dict)


def _compare(doc_options, spec, where):
    assert sorted(doc_options) == sorted(spec), "%s: documented %s, argument_spec %s" % (
        where,
        sorted(doc_options),
        sorted(spec),
    )
    for name, want in spec.items():
        doc = doc_options[name]
        here = "%s.%s" % (where, name)
        assert doc.get("type", "str") == want.get("type", "str"), here
        assert doc.get("elements") == want.get("elements"), here
        assert doc.get("default") == want.get("default"), here
        assert doc.get("choices") == want.get("choices"), here
        assert bool(doc.get("required")) == bool(want.get("required")), here
        if want.get("options") or doc.get("suboptions"):
            _compare(doc.get("suboptions") or {}, want.get("options") or {}, here)


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_documented_options_are_the_argument_spec(module, monkeypatch):
    _compare(yaml.safe_load(module.DOCUMENTATION)["options"], _spec(module, monkeypatch), module.__name__)
