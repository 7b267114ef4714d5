# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.pko.airgap.plugins.filter import prefix_overrides as plugin
from ansible_collections.pko.airgap.plugins.filter.prefix_overrides import (
    FilterModule,
    image_prefix_override,
    prefix_overrides,
    prefix_overrides_string,
)

FILTER_DIR = os.path.dirname(plugin.__file__)
QUAY = "quay.io/package-operator/=mirror.example.com/pko/"


@pytest.fixture
def warnings(monkeypatch):
    """Collect what the filters print as warnings."""
    collected = []
    monkeypatch.setattr(plugin.display, "warning", collected.append)
    return collected


def test_filter_module_exposes_three_filters():
    assert sorted(FilterModule().filters()) == [
        "image_prefix_override",
        "prefix_overrides",
        "prefix_overrides_string",
    ]


@pytest.mark.parametrize(
    "name", ["image_prefix_override", "prefix_overrides", "prefix_overrides_string"]
)
def test_sidecar_documents_filter(name):
    with open(os.path.join(FILTER_DIR, name + ".yml"), encoding="utf-8") as handle:
        sidecar = yaml.safe_load(handle)

    assert sidecar["DOCUMENTATION"]["name"] == name
    assert "_input" in sidecar["DOCUMENTATION"]["options"]
    assert "_value" in sidecar["RETURN"]
    assert sidecar["EXAMPLES"].strip()


@pytest.mark.parametrize(
    "image, overrides, expected",
    [
        pytest.param(
            "quay.io/package-operator/package-operator-manager:v1.18.2",
            QUAY,
            "mirror.example.com/pko/package-operator-manager:v1.18.2",
            id="string-rules",
        ),
        pytest.param(
            "quay.io/pko/manager:v1",
            [
                {"from": "quay.io/", "to": "m.io/quay/"},
                {"from": "quay.io/pko/", "to": "m.io/"},
            ],
            "m.io/manager:v1",
            id="longest-wins",
        ),
        pytest.param("ghcr.io/x:1", QUAY, "ghcr.io/x:1", id="no-match"),
        pytest.param("quay.io/x:1", "", "quay.io/x:1", id="no-rules"),
        pytest.param("quay.io/x:1", [], "quay.io/x:1", id="empty-list"),
    ],
)
def test_image_prefix_override(image, overrides, expected, warnings):
    assert image_prefix_override(image, overrides) == expected


def test_image_prefix_override_boundary(warnings):
    rules = "quay.io/pko=m.io/pko"

    assert image_prefix_override("quay.io/pko-extra/x", rules) == "m.io/pko-extra/x"
    assert (
        image_prefix_override("quay.io/pko-extra/x", rules, boundary=True)
        == "quay.io/pko-extra/x"
    )


def test_image_prefix_override_normalize(warnings):
    rules = "docker.io/=m.io/"

    assert image_prefix_override("nginx:1", rules) == "nginx:1"
    assert (
        image_prefix_override("nginx:1", rules, normalize=True)
        == "m.io/library/nginx:1"
    )


def test_image_prefix_override_warns_about_sibling(warnings):
    image_prefix_override("quay.io/pko-extra/x", "quay.io/pko=m.io/pko")

    assert len(warnings) == 1
    assert warnings[0].startswith("image_prefix_override: rule 'quay.io/pko=m.io/pko'")
    assert "quay.io/pko-extra/x" in warnings[0]


def test_image_prefix_override_warns_about_short_name(warnings):
    image_prefix_override("nginx:1", "docker.io/library/=m.io/lib/")

    assert len(warnings) == 1
    assert "will not redirect it at runtime" in warnings[0]


def test_image_prefix_override_clean_call_is_quiet(warnings):
    image_prefix_override("quay.io/package-operator/x:1", QUAY)

    assert warnings == []


@pytest.mark.parametrize(
    "image, overrides, kwargs, fragment",
    [
        pytest.param(
            "Quay.io/PKO/x",
            QUAY,
            {},
            "invalid image reference 'Quay.io/PKO/x'",
            id="upper-case",
        ),
        pytest.param("", QUAY, {}, "the reference is empty", id="empty-image"),
        pytest.param(None, QUAY, {}, "expected a string", id="none-image"),
        pytest.param("quay.io/x", "quay.io/", {}, "has no '='", id="no-equals"),
        pytest.param("quay.io/x", "=m/", {}, "empty 'from'", id="empty-from"),
        pytest.param(
            "quay.io/x", "a/=b/, c/=d/", {}, "whitespace around it", id="whitespace"
        ),
        pytest.param(
            "quay.io/x", "a/=b/,a/=c/", {}, "repeats the 'from'", id="duplicate"
        ),
        pytest.param("quay.io/x", 5, {}, "got int 5", id="int-rules"),
        pytest.param(
            "quay.io/pko/x:v1",
            "quay.io/pko/=m.io/PKO/",
            {},
            "the rule 'quay.io/pko/=m.io/PKO/' turns 'quay.io/pko/x:v1' into "
            "'m.io/PKO/x:v1', which is not a valid image reference (repository "
            "component 'PKO' must be lower case). Fix the rule's 'to'.",
            id="invalid-result",
        ),
        pytest.param(
            "quay.io/x",
            QUAY,
            {"boundary": "yes"},
            "boundary must be true or false",
            id="boundary-string",
        ),
        pytest.param(
            "quay.io/x",
            QUAY,
            {"normalize": 1},
            "normalize must be true or false",
            id="normalize-int",
        ),
    ],
)
def test_image_prefix_override_rejects(image, overrides, kwargs, fragment):
    with pytest.raises(AnsibleFilterError) as raised:
        image_prefix_override(image, overrides, **kwargs)

    assert str(raised.value).startswith("image_prefix_override: ")
    assert fragment in str(raised.value)


def test_prefix_overrides_parses(warnings):
    assert prefix_overrides(QUAY + ",docker.io/library/=m.io/lib/") == [
        {"from": "quay.io/package-operator/", "to": "mirror.example.com/pko/"},
        {"from": "docker.io/library/", "to": "m.io/lib/"},
    ]
    assert warnings == []


def test_prefix_overrides_empty_string(warnings):
    assert prefix_overrides("") == []


def test_prefix_overrides_warns(warnings):
    prefix_overrides("quay.io/pko/=quay.io/pko/m/")

    assert len(warnings) == 1
    assert warnings[0].startswith(
        "prefix_overrides: rule 'quay.io/pko/=quay.io/pko/m/'"
    )


@pytest.mark.parametrize(
    "value, fragment",
    [
        pytest.param("a/", "entry 1 'a/' has no '='", id="no-equals"),
        pytest.param("a/=b/,", "is empty", id="trailing-comma"),
        pytest.param(" a/=b/", "whitespace around it", id="leading-space"),
        pytest.param("a/=b/,a/=c/", "repeats the 'from'", id="duplicate"),
        pytest.param(
            [{"from": "a/", "to": "b/"}],
            "use pko.airgap.prefix_overrides_string",
            id="list",
        ),
        pytest.param(None, "got NoneType", id="none"),
    ],
)
def test_prefix_overrides_rejects(value, fragment):
    with pytest.raises(AnsibleFilterError) as raised:
        prefix_overrides(value)

    assert str(raised.value).startswith("prefix_overrides: ")
    assert fragment in str(raised.value)


def test_prefix_overrides_string_formats(warnings):
    rules = [{"from": "quay.io/package-operator/", "to": "mirror.example.com/pko/"}]

    assert prefix_overrides_string(rules) == QUAY
    assert prefix_overrides_string([]) == ""


def test_prefix_overrides_string_round_trip(warnings):
    text = QUAY + ",docker.io/library/=m.io/lib/"

    assert prefix_overrides_string(prefix_overrides(text)) == text


@pytest.mark.parametrize(
    "value, fragment",
    [
        pytest.param(QUAY, "use pko.airgap.prefix_overrides", id="string"),
        pytest.param([{"from": "a/"}], "missing 'to'", id="missing-to"),
        pytest.param([{"from": "a/", "to": "b,c/"}], "has ',' in its 'to'", id="comma"),
        pytest.param(
            [{"from": "a/", "to": "b/", "x": 1}], "unknown keys 'x'", id="extra-key"
        ),
        pytest.param(["a/=b/"], "must be a mapping", id="string-item"),
    ],
)
def test_prefix_overrides_string_rejects(value, fragment):
    with pytest.raises(AnsibleFilterError) as raised:
        prefix_overrides_string(value)

    assert str(raised.value).startswith("prefix_overrides_string: ")
    assert fragment in str(raised.value)
