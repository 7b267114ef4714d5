# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import pytest

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReferenceError,
    is_image_reference,
    parse_image_reference,
    quote_value,
)

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, domain, path, tag, digest",
    [
        pytest.param("nginx", "", "nginx", None, None, id="short-name"),
        pytest.param("nginx:1.25", "", "nginx", "1.25", None, id="short-name-tag"),
        pytest.param("library/nginx", "", "library/nginx", None, None, id="hub-path"),
        pytest.param(
            "quay.io/package-operator/package-operator-manager:v1.18.2",
            "quay.io",
            "package-operator/package-operator-manager",
            "v1.18.2",
            None,
            id="quay-tag",
        ),
        pytest.param(
            "127.0.0.1:5000/pko/manager:v1",
            "127.0.0.1:5000",
            "pko/manager",
            "v1",
            None,
            id="registry-port",
        ),
        pytest.param("localhost/x", "localhost", "x", None, None, id="localhost"),
        pytest.param(
            "localhost:5000/a/b/c:t",
            "localhost:5000",
            "a/b/c",
            "t",
            None,
            id="localhost-port",
        ),
        pytest.param(
            "quay.io/pko/manager@" + DIGEST,
            "quay.io",
            "pko/manager",
            None,
            DIGEST,
            id="digest",
        ),
        pytest.param(
            "quay.io/pko/manager:v1@" + DIGEST,
            "quay.io",
            "pko/manager",
            "v1",
            DIGEST,
            id="tag-and-digest",
        ),
        pytest.param(
            "[::1]:5000/pko/manager:v1",
            "[::1]:5000",
            "pko/manager",
            "v1",
            None,
            id="ipv6-port",
        ),
        pytest.param("a__b/c-d.e_f:x", "", "a__b/c-d.e_f", "x", None, id="separators"),
        pytest.param(
            "Quay.io/pko/x", "Quay.io", "pko/x", None, None, id="upper-registry"
        ),
    ],
)
def test_parse_valid(text, domain, path, tag, digest):
    reference = parse_image_reference(text)

    assert reference.domain == domain
    assert reference.path == path
    assert reference.tag == tag
    assert reference.digest == digest
    assert str(reference) == text


@pytest.mark.parametrize(
    "text, reason",
    [
        pytest.param("", "the reference is empty", id="empty"),
        pytest.param(" nginx", "leading or trailing whitespace", id="leading-space"),
        pytest.param("ngi nx", "contains whitespace", id="inner-space"),
        pytest.param("Nginx", "must be lower case", id="upper-case-name"),
        pytest.param("quay.io/PKO/manager", "must be lower case", id="upper-case-path"),
        pytest.param("quay.io/pko/manager:", "tag ''", id="empty-tag"),
        pytest.param("quay.io/pko/manager:-x", "tag '-x'", id="tag-leading-dash"),
        pytest.param(
            "quay.io/pko/manager:" + "t" * 129, "1-128 characters", id="long-tag"
        ),
        pytest.param(
            "quay.io/pko/manager@sha256:abc", "not of the form", id="short-digest"
        ),
        pytest.param(
            "quay.io/pko/manager@sha256:" + "A" * 64,
            "64 lower-case hex",
            id="upper-digest",
        ),
        pytest.param("quay.io/pko/manager@", "not of the form", id="empty-digest"),
        pytest.param("quay.io//manager", "empty component", id="empty-component"),
        pytest.param("quay.io/", "repository path is empty", id="no-path"),
        pytest.param("foo:bar/baz", "not a valid host", id="bad-port"),
        pytest.param("quay.io/pko/-manager", "may contain only", id="leading-dash"),
        pytest.param("quay.io/" + "a" * 300, "longer than 255", id="long-name"),
        pytest.param(":tag", "repository name is missing", id="tag-only"),
    ],
)
def test_parse_invalid(text, reason):
    with pytest.raises(ImageReferenceError) as raised:
        parse_image_reference(text)

    assert reason in str(raised.value)
    assert "Use the form" in str(raised.value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param(5, id="int"),
        pytest.param([], id="list"),
    ],
)
def test_parse_rejects_non_string(value):
    with pytest.raises(ImageReferenceError, match="expected a string"):
        parse_image_reference(value)


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("nginx", "docker.io/library/nginx", id="short"),
        pytest.param("nginx:1", "docker.io/library/nginx:1", id="short-tag"),
        pytest.param("bitnami/redis", "docker.io/bitnami/redis", id="hub-user"),
        pytest.param(
            "index.docker.io/nginx", "docker.io/library/nginx", id="legacy-domain"
        ),
        pytest.param(
            "docker.io/nginx@" + DIGEST,
            "docker.io/library/nginx@" + DIGEST,
            id="digest",
        ),
        pytest.param("quay.io/pko/x:v1", "quay.io/pko/x:v1", id="already-qualified"),
    ],
)
def test_fully_qualified(text, expected):
    assert parse_image_reference(text).fully_qualified() == expected


def test_with_digest_drops_tag():
    reference = parse_image_reference("quay.io/pko/x:v1")

    assert reference.with_digest(DIGEST) == "quay.io/pko/x@" + DIGEST


def test_is_image_reference():
    assert is_image_reference("quay.io/pko/x:v1")
    assert not is_image_reference("quay.io/PKO/x")


def test_error_message_shortens_huge_value():
    with pytest.raises(ImageReferenceError) as raised:
        parse_image_reference("a" * 100000)

    assert len(str(raised.value)) < 400
    assert "100002 characters" in str(raised.value)


def test_quote_value_keeps_short_value():
    assert quote_value("abc") == "'abc'"
