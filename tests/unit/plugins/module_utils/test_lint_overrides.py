# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import pytest

from ansible_collections.pko.airgap.plugins.module_utils.lint_overrides import (
    NEVER_MATCHES_NORMALIZED,
    NORMALIZED_ONLY,
    REDUNDANT_RULE,
    REWRITE_CHAIN,
    SHADOWED_RULE,
    SIBLING_MATCH,
    SLASH_MISMATCH,
    TO_DOCKER_HUB,
    TO_EXTENDS_FROM,
    lint_overrides,
    lint_references,
    lint_rules,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixMatcher,
    PrefixOverrideError,
)


def _codes(warnings):
    return [warning.code for warning in warnings]


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param("", id="empty"),
        pytest.param(
            "quay.io/package-operator/=mirror.example.com/pko/", id="one-rule"
        ),
        pytest.param("quay.io/a/=m.io/a/,quay.io/b/=m.io/b/", id="two-disjoint"),
        pytest.param("quay.io/pko/manager:=m.io/manager:", id="ends-with-colon"),
    ],
)
def test_clean_rules_give_no_warning(overrides):
    assert lint_overrides(overrides) == []


def test_to_extends_from():
    warnings = lint_overrides("quay.io/pko/=quay.io/pko/mirror/")

    assert _codes(warnings) == [TO_EXTENDS_FROM]
    assert "'quay.io/pko/mirror/example:1.0' would become" in warnings[0].message
    assert "'quay.io/pko/mirror/mirror/example:1.0'" in warnings[0].message


def test_rewrite_chain():
    warnings = lint_overrides("a.io/=b.io/,b.io/=c.io/")

    assert _codes(warnings) == [REWRITE_CHAIN]
    assert warnings[0].message.startswith(
        "rule 'a.io/=b.io/': rule 'b.io/=c.io/' matches"
    )


@pytest.mark.parametrize(
    "overrides, example",
    [
        pytest.param(
            "quay.io/pko/=m.io/pko", "'m.io/pkoexample:1.0'", id="from-has-slash"
        ),
        pytest.param(
            "quay.io/pko=m.io/pko/", "'m.io/pko//example:1.0'", id="to-has-slash"
        ),
    ],
)
def test_slash_mismatch(overrides, example):
    warnings = [w for w in lint_overrides(overrides) if w.code == SLASH_MISMATCH]

    assert len(warnings) == 1
    assert example in warnings[0].message


def test_to_without_registry_host():
    warnings = lint_overrides("quay.io/package-operator/=pko/")

    assert _codes(warnings) == [TO_DOCKER_HUB]
    assert warnings[0].message == (
        "rule 'quay.io/package-operator/=pko/': 'to' names no registry host, so "
        "the images would be pulled from Docker Hub as 'docker.io/pko/'. Start "
        "'to' with the mirror's host, for example 'mirror.example.com/pko/'."
    )


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("m.io/pko/", id="dot"),
        pytest.param("127.0.0.1:5000/pko/", id="port"),
        pytest.param("localhost/pko/", id="localhost"),
        pytest.param("mirror:5000/", id="host-port"),
        pytest.param("Mirror/pko/", id="upper-case-host"),
    ],
)
def test_to_with_registry_host_is_quiet(target):
    warnings = lint_overrides("quay.io/pko/=" + target)

    assert TO_DOCKER_HUB not in _codes(warnings)


def test_sibling_without_references_is_static():
    warnings = lint_overrides("quay.io/pko=m.io/pko")

    assert _codes(warnings) == [SIBLING_MATCH]
    assert "'quay.io/pko-other/example'" in warnings[0].message


def test_sibling_with_references_lists_matches():
    references = ["quay.io/pko-extra/x:1", "quay.io/pko/y:1", "quay.io/pkox:1"]

    warnings = lint_overrides("quay.io/pko=m.io/pko", references)

    assert _codes(warnings) == [SIBLING_MATCH]
    assert "quay.io/pko-extra/x:1, quay.io/pkox:1" in warnings[0].message
    assert "quay.io/pko/y:1" not in warnings[0].message


def test_sibling_with_unaffected_references_is_quiet():
    assert lint_overrides("quay.io/pko=m.io/pko", ["quay.io/pko/y:1"]) == []


@pytest.mark.parametrize(
    "references",
    [
        pytest.param(None, id="static"),
        pytest.param(["quay.io/pko-extra/x"], id="references"),
    ],
)
def test_boundary_silences_sibling(references):
    assert lint_overrides("quay.io/pko=m.io/pko", references, boundary=True) == []


def test_sibling_lists_at_most_three():
    references = ["quay.io/pko%d/x" % number for number in range(5)]

    warnings = lint_overrides("quay.io/pko=m.io/pko", references)

    assert "and 2 more" in warnings[0].message


def test_normalized_only():
    warnings = lint_overrides(
        "docker.io/library/=m.io/lib/", ["nginx:1", "docker.io/library/redis"]
    )

    assert _codes(warnings) == [NORMALIZED_ONLY]
    assert "nginx:1 (docker.io/library/nginx:1)" in warnings[0].message
    assert "redis" not in warnings[0].message


def test_normalized_only_ignores_invalid_reference():
    assert lint_overrides("docker.io/=m.io/", ["Not A Reference"]) == []


@pytest.mark.parametrize(
    "overrides, expected",
    [
        pytest.param("nginx/=m.io/nginx/", [NEVER_MATCHES_NORMALIZED], id="short-name"),
        pytest.param(
            "index.docker.io/=m.io/", [NEVER_MATCHES_NORMALIZED], id="legacy-hub"
        ),
        pytest.param("docker.io/library/=m.io/", [], id="qualified"),
        pytest.param("localhost/a/=m.io/a/", [], id="localhost"),
    ],
)
def test_never_matches_normalized(overrides, expected):
    assert _codes(lint_overrides(overrides, normalize=True)) == expected


def test_never_matches_normalized_only_with_normalize():
    assert lint_overrides("nginx/=m.io/nginx/") == []


def test_shadowed_rule():
    warnings = lint_overrides("quay.io/=m.io/quay/,quay.io/pko/=other.io/pko/")

    assert _codes(warnings) == [SHADOWED_RULE]
    assert "go to 'other.io/pko/', not 'm.io/quay/pko/'" in warnings[0].message


def test_redundant_rule():
    warnings = lint_overrides("quay.io/=m.io/quay/,quay.io/pko/=m.io/quay/pko/")

    assert _codes(warnings) == [REDUNDANT_RULE]
    assert warnings[0].message.startswith(
        "rule 'quay.io/pko/=m.io/quay/pko/' is redundant"
    )


def test_lint_rules_accepts_matcher():
    matcher = PrefixMatcher(
        "quay.io/pko/=quay.io/pko/m/", boundary=True, normalize=True
    )

    assert _codes(lint_rules(matcher)) == [TO_EXTENDS_FROM]


def test_lint_references_alone():
    warnings = lint_references("quay.io/pko=m.io/pko", ["quay.io/pko-x/a"])

    assert _codes(warnings) == [SIBLING_MATCH]


def test_malformed_rules_raise():
    with pytest.raises(PrefixOverrideError):
        lint_overrides("no-equals-sign")


def test_warning_as_dict():
    warning = lint_overrides("quay.io/pko=m.io/pko")[0]

    assert warning.as_dict() == {"code": SIBLING_MATCH, "message": warning.message}
