# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Check the documentation of every module, filter and role against the code.

Module docs must be complete, EXAMPLES must be tasks that use only documented
options, and RETURN must name what a real run of the module returns. Filter
examples are rendered with the real filters, role argument specs must match
the role defaults, and ``ansible-doc`` must show every plugin and role without
a warning. The integration targets compare RETURN with the results of real
runs against registries (tests/integration/targets/setup_pko_cluster).
"""

import glob
import importlib
import json
import os
import re
import shutil
import subprocess
import sys

import jinja2
import pytest
import yaml
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

import ansible_collections.pko.airgap as collection

# The collection as imported: a symlink under a temporary directory for plain
# pytest (see the root conftest.py), or ansible-test's copy.
IMPORT_PATH = list(collection.__path__)[0]
ROOT = os.path.realpath(IMPORT_PATH)
# The directory that contains ansible_collections/pko/airgap, for ansible-doc.
COLLECTIONS_PATH = os.path.dirname(os.path.dirname(os.path.dirname(IMPORT_PATH)))
FIXTURE = os.path.join(
    ROOT, "tests", "fixtures", "pko-v1.18.2", "self-bootstrap-job.yaml"
)

MODULES = sorted(
    os.path.splitext(os.path.basename(path))[0]
    for path in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
    if not path.endswith("__init__.py")
)
FILTERS = sorted(
    os.path.splitext(os.path.basename(path))[0]
    for path in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.yml"))
)
ROLES = sorted(
    os.path.basename(os.path.dirname(os.path.dirname(path)))
    for path in glob.glob(
        os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")
    )
)

MODULE_KEYS = (
    "module",
    "short_description",
    "version_added",
    "description",
    "options",
    "attributes",
    "notes",
    "seealso",
    "author",
)
ATTRIBUTES = ("check_mode", "diff_mode", "idempotent")
# Keys that Ansible adds to or reads from every result.
COMMON_RESULT_KEYS = {
    "changed",
    "diff",
    "exception",
    "failed",
    "invocation",
    "msg",
    "warnings",
    "deprecations",
}


def load_module(name):
    return importlib.import_module(
        "ansible_collections.pko.airgap.plugins.modules." + name
    )


def module_docs(name):
    module = load_module(name)
    return (
        yaml.safe_load(module.DOCUMENTATION),
        yaml.safe_load(module.EXAMPLES),
        yaml.safe_load(module.RETURN),
    )


class ModuleExit(Exception):
    """exit_json, fail_json or the argument spec capture ended the module."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


def argument_spec(monkeypatch, name):
    """Return the argument spec that the module's main() passes to AnsibleModule."""

    def capture(self, argument_spec, **kwargs):
        raise ModuleExit(argument_spec)

    monkeypatch.setattr(basic.AnsibleModule, "__init__", capture)
    with pytest.raises(ModuleExit) as raised:
        load_module(name).main()
    return raised.value.result


def run_module(capsys, name, params, check_mode=False):
    """Run the module's main() with ``params`` and return the JSON it prints.

    exit_json and fail_json run unchanged, because they add keys of their own,
    such as file attributes for a result with ``dest``.
    """
    capsys.readouterr()
    with patch_module_args(dict(params, _ansible_check_mode=check_mode)):
        with pytest.raises(SystemExit):
            load_module(name).main()
    return json.loads(capsys.readouterr().out)


def documented_option_names(options):
    names = set()
    for name, option in options.items():
        names.add(name)
        names.update(option.get("aliases") or [])
    return names


ANSIBLE_DOC = "import sys; from ansible.cli.doc import main; main(sys.argv[1:])"


def ansible_doc(*args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH)
    # ansible.cli.doc rather than ``python -m ansible doc``, which needs the
    # ansible-core distribution metadata that ansible-test does not install.
    return subprocess.run(
        [sys.executable, "-c", ANSIBLE_DOC, "ansible-doc", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("name", MODULES)
def test_module_documentation_complete(name):
    documentation, examples, returns = module_docs(name)

    for key in MODULE_KEYS:
        assert documentation.get(key), "DOCUMENTATION of %s lacks %s" % (name, key)
    assert documentation["module"] == name
    for attribute in ATTRIBUTES:
        assert documentation["attributes"][attribute]["support"] in (
            "full",
            "partial",
            "none",
        )
        assert documentation["attributes"][attribute]["description"]
    for option_name, option in documentation["options"].items():
        assert option.get("description"), "option %s has no description" % option_name
        assert option.get("type"), "option %s has no type" % option_name
    assert isinstance(examples, list)
    assert isinstance(returns, dict)
    for key, value in returns.items():
        assert value.get("description"), "RETURN %s has no description" % key
        assert value.get("returned"), "RETURN %s does not say when" % key
        assert value.get("type"), "RETURN %s has no type" % key


@pytest.mark.parametrize("name", MODULES)
def test_module_options_match_argument_spec(monkeypatch, name):
    documentation = module_docs(name)[0]
    spec = argument_spec(monkeypatch, name)

    assert sorted(documentation["options"]) == sorted(spec)
    for option_name, option in documentation["options"].items():
        assert option["type"] == spec[option_name].get("type", "str"), option_name
        assert option.get("default") == spec[option_name].get("default"), option_name
        assert bool(option.get("required")) == bool(
            spec[option_name].get("required")
        ), option_name


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_use_documented_options(name):
    documentation, examples = module_docs(name)[:2]
    fqcn = "pko.airgap." + name
    options = documented_option_names(documentation["options"])

    calls = [task[fqcn] for task in examples if fqcn in task]
    assert calls, "EXAMPLES of %s never call %s" % (name, fqcn)
    for task in examples:
        assert task.get("name"), "an example task of %s has no name" % name
    for arguments in calls:
        assert isinstance(arguments, dict)
        assert set(arguments) <= options, set(arguments) - options


def assert_result_documented(returns, result, succeeded):
    for key, value in returns.items():
        if value["returned"] == "always" or (
            succeeded and value["returned"] == "success"
        ):
            assert key in result, "RETURN documents %s, the result lacks it" % key
    undocumented = set(result) - set(returns) - COMMON_RESULT_KEYS
    assert not undocumented, "the result has undocumented keys %s" % undocumented


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-mode"])
def test_manifest_prefix_override_return_real(capsys, tmp_path, check_mode):
    returns = module_docs("manifest_prefix_override")[2]
    manifest = tmp_path / "self-bootstrap-job.yaml"
    shutil.copy(FIXTURE, manifest)

    result = run_module(
        capsys,
        "manifest_prefix_override",
        {
            "src": str(manifest),
            "overrides": "quay.io/package-operator/=mirror.example.com/pko/",
            "backup": True,
        },
        check_mode=check_mode,
    )

    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True
    assert_result_documented(returns, result, succeeded=True)
    for key in ("owner", "mode", "size"):
        assert key in result, "exit_json did not add the file attribute %s" % key


def test_override_coverage_return_real(capsys):
    # No rule redirects the manifest's images, so the module reports them
    # without contacting a registry.
    returns = module_docs("override_coverage")[2]
    with open(FIXTURE, encoding="utf-8") as handle:
        content = handle.read()

    result = run_module(
        capsys,
        "override_coverage",
        {"content": content, "overrides": "ghcr.io/other/=mirror.example.com/other/"},
    )

    assert result.get("failed") is True
    assert_result_documented(returns, result, succeeded=False)


def filter_docs(name):
    with open(
        os.path.join(ROOT, "plugins", "filter", name + ".yml"), encoding="utf-8"
    ) as handle:
        text = handle.read()
    return yaml.safe_load(text)


def filter_environment():
    module = importlib.import_module(
        "ansible_collections.pko.airgap.plugins.filter.prefix_overrides"
    )
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for short_name, function in module.FilterModule().filters().items():
        environment.filters["pko.airgap." + short_name] = function
    return environment


def example_blocks(examples):
    """Yield (expected, expression) for each example that states its result.

    An example is a block of lines between blank lines: ``# => RESULT`` (RESULT
    in JSON, continued on further comment lines), then a YAML mapping of one
    variable to a template.
    """
    for block in examples.split("\n\n"):
        expected = re.search(r"^# => (.+(?:\n#  .+)*)$", block, re.MULTILINE)
        if not expected:
            continue
        (value,) = yaml.safe_load(block).values()
        yield json.loads(expected.group(1).replace("\n#", "\n")), value


@pytest.mark.parametrize("name", FILTERS)
def test_filter_documentation_complete(name):
    docs = filter_docs(name)
    documentation = docs["DOCUMENTATION"]

    assert documentation["name"] == name
    for key in ("short_description", "version_added", "description", "options"):
        assert documentation.get(key), "DOCUMENTATION of %s lacks %s" % (name, key)
    assert docs["RETURN"]["_value"]["description"]
    assert docs["RETURN"]["_value"]["type"]
    assert "EXAMPLES" in docs


@pytest.mark.parametrize("name", FILTERS)
def test_filter_examples_give_stated_results(name):
    docs = filter_docs(name)
    options = set(docs["DOCUMENTATION"]["options"])
    environment = filter_environment()
    fqcn = "pko.airgap." + name

    examples = list(example_blocks(docs["EXAMPLES"]))
    assert examples, "EXAMPLES of %s state no result" % name
    for expected, expression in examples:
        if fqcn not in expression:
            continue
        for keyword in re.findall(re.escape(fqcn) + r"\([^)]*?\b(\w+)=", expression):
            assert keyword in options, "%s uses undocumented %s" % (expression, keyword)
        rendered = environment.from_string(expression).render()
        assert rendered == (
            expected if isinstance(expected, str) else str(expected)
        ), expression


def role_files(name):
    with open(
        os.path.join(ROOT, "roles", name, "meta", "argument_specs.yml"),
        encoding="utf-8",
    ) as handle:
        spec = yaml.safe_load(handle)["argument_specs"]["main"]
    with open(
        os.path.join(ROOT, "roles", name, "defaults", "main.yml"), encoding="utf-8"
    ) as handle:
        defaults = yaml.safe_load(handle) or {}
    return spec, defaults


@pytest.mark.parametrize("name", ROLES)
def test_role_spec_matches_defaults(name):
    spec, defaults = role_files(name)
    options = spec["options"]

    assert spec.get("short_description")
    assert spec.get("description")
    assert sorted(options) == sorted(defaults)
    for option_name, option in options.items():
        assert option_name.startswith("pko_airgap_%s_" % name), option_name
        assert option.get("description"), option_name
        assert option.get("type"), option_name
        default = defaults[option_name]
        templated = isinstance(default, str) and "{{" in default
        if "default" in option and not templated:
            assert option["default"] == default, option_name
        if default is None:
            assert "default" not in option, option_name


@pytest.mark.parametrize(
    "plugin_type, name",
    [("module", name) for name in MODULES]
    + [("filter", name) for name in FILTERS]
    + [("role", name) for name in ROLES],
    ids=lambda value: value,
)
def test_ansible_doc_shows_plugin(plugin_type, name):
    completed = ansible_doc("-t", plugin_type, "--json", "pko.airgap." + name)

    assert completed.returncode == 0, completed.stderr
    assert "WARNING" not in completed.stderr, completed.stderr
    assert "pko.airgap." + name in json.loads(completed.stdout)
