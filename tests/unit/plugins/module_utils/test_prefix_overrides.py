# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import random

import pytest

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReferenceError,
    parse_image_reference,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixMatcher,
    PrefixOverride,
    PrefixOverrideError,
    format_prefix_overrides,
    linear_scan_rewrite,
    parse_prefix_overrides,
)

QUAY = "quay.io/package-operator/=mirror.example.com/pko/"


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param(None, [], id="none"),
        pytest.param("", [], id="empty-string"),
        pytest.param([], [], id="empty-list"),
        pytest.param(
            QUAY,
            [PrefixOverride("quay.io/package-operator/", "mirror.example.com/pko/")],
            id="one",
        ),
        pytest.param(
            "a.io/=b.io/,c.io/x=d.io/y",
            [PrefixOverride("a.io/", "b.io/"), PrefixOverride("c.io/x", "d.io/y")],
            id="two-in-order",
        ),
        pytest.param(
            [{"from": "a.io/", "to": "b.io/"}, {"to": "d.io/", "from": "c.io/"}],
            [PrefixOverride("a.io/", "b.io/"), PrefixOverride("c.io/", "d.io/")],
            id="list",
        ),
        pytest.param(
            "127.0.0.1:5000/a/=127.0.0.1:6000/b/",
            [PrefixOverride("127.0.0.1:5000/a/", "127.0.0.1:6000/b/")],
            id="ports",
        ),
    ],
)
def test_parse(value, expected):
    assert parse_prefix_overrides(value) == expected


@pytest.mark.parametrize(
    "value, fragment",
    [
        pytest.param("quay.io/pko/", "has no '='", id="no-equals"),
        pytest.param("=mirror/", "empty 'from'", id="empty-from"),
        pytest.param("quay.io/=", "empty 'to'", id="empty-to"),
        pytest.param(
            "a.io/=b.io/,", "entry 2 in 'a.io/=b.io/,' is empty", id="trailing-comma"
        ),
        pytest.param("a.io/=b.io/,,c.io/=d.io/", "is empty", id="double-comma"),
        pytest.param(
            "a.io/=b.io/, c.io/=d.io/", "whitespace around it", id="space-after-comma"
        ),
        pytest.param(
            "a.io/ =b.io/", "whitespace in its 'from'", id="space-before-equals"
        ),
        pytest.param("a.io/=b .io/", "whitespace in its 'to'", id="space-in-to"),
        pytest.param("a.io/=b.io/=c", "second '='", id="second-equals"),
        pytest.param("a.io/=b.io/,a.io/=c.io/", "repeats the 'from'", id="duplicate"),
        pytest.param("a\x00.io/=b.io/", "control character", id="control-character"),
        pytest.param(5, "got int 5", id="int"),
        pytest.param({"from": "a", "to": "b"}, "got dict", id="bare-mapping"),
        pytest.param(["a.io/=b.io/"], "must be a mapping", id="list-of-strings"),
        pytest.param([{"from": "a.io/"}], "missing 'to'", id="list-missing-to"),
        pytest.param(
            [{"from": "a.io/", "to": 5}], "'to' must be a string", id="list-int-to"
        ),
        pytest.param(
            [{"from": "a.io/", "to": "b/", "extra": 1}],
            "unknown keys 'extra'",
            id="list-extra-key",
        ),
        pytest.param(
            [{"from": "a=b", "to": "c/"}], "contains '='", id="list-equals-in-from"
        ),
        pytest.param(
            [{"from": "a,b", "to": "c/"}], "has ',' in its 'from'", id="list-comma"
        ),
        pytest.param(
            [{"from": "a/", "to": "b/"}, {"from": "a/", "to": "c/"}],
            "repeats the 'from'",
            id="list-duplicate",
        ),
    ],
)
def test_parse_rejects(value, fragment):
    with pytest.raises(PrefixOverrideError) as raised:
        parse_prefix_overrides(value)

    assert fragment in str(raised.value)


def test_parse_error_shortens_huge_entry():
    with pytest.raises(PrefixOverrideError) as raised:
        parse_prefix_overrides("x" * 50000)

    assert len(str(raised.value)) < 500


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param(QUAY, id="string"),
        pytest.param(
            [{"from": "quay.io/package-operator/", "to": "mirror.example.com/pko/"}],
            id="list",
        ),
        pytest.param(
            [PrefixOverride("quay.io/package-operator/", "mirror.example.com/pko/")],
            id="objects",
        ),
    ],
)
def test_format(rules):
    assert format_prefix_overrides(rules) == QUAY


def test_format_round_trip():
    text = "a.io/=b.io/,c.io/x=d.io/y,127.0.0.1:5000/=m:1/"

    assert format_prefix_overrides(parse_prefix_overrides(text)) == text


# PKO's own unit test case: the longest 'from' wins over a shorter one that is
# listed first, and over a shorter one listed later.
PKO_RULES = [
    PrefixOverride("quay.io/original/", "quay.io/mirror/"),
    PrefixOverride("quay.io/original/foo", "quay.io/mirror/bar"),
    PrefixOverride("quay.io/original/f", "quay.io/mirror/baz"),
]


@pytest.mark.parametrize(
    "reference, expected",
    [
        pytest.param(
            "quay.io/original/foo:tag", "quay.io/mirror/bar:tag", id="longest-wins"
        ),
        pytest.param(
            "quay.io/original/fa:tag", "quay.io/mirror/baza:tag", id="middle-rule"
        ),
        pytest.param("quay.io/original/x:tag", "quay.io/mirror/x:tag", id="shortest"),
        pytest.param(
            "quay.io/notmatching/x:tag", "quay.io/notmatching/x:tag", id="no-match"
        ),
        pytest.param("quay.io/original/", "quay.io/mirror/", id="exact-from"),
        pytest.param("quay.io/originalx", "quay.io/originalx", id="no-partial-rule"),
    ],
)
def test_rewrite_matches_pko(reference, expected):
    matcher = PrefixMatcher(PKO_RULES)

    assert matcher.rewrite(reference) == expected
    assert linear_scan_rewrite(PKO_RULES, reference) == expected


@pytest.mark.parametrize(
    "order", [pytest.param(0, id="as-listed"), pytest.param(1, id="reversed")]
)
def test_rewrite_ignores_rule_order(order):
    rules = PKO_RULES if order == 0 else list(reversed(PKO_RULES))

    assert (
        PrefixMatcher(rules).rewrite("quay.io/original/foo:tag")
        == "quay.io/mirror/bar:tag"
    )


def test_rewrite_is_plain_prefix_by_default():
    matcher = PrefixMatcher("quay.io/pko=mirror/pko")

    assert matcher.rewrite("quay.io/pko-extra/x:1") == "mirror/pko-extra/x:1"


def test_rewrite_keeps_tag_and_digest():
    digest = "sha256:" + "b" * 64
    matcher = PrefixMatcher("quay.io/pko/=127.0.0.1:5000/m/")

    assert (
        matcher.rewrite("quay.io/pko/x:v1@" + digest)
        == "127.0.0.1:5000/m/x:v1@" + digest
    )


def _random_text(rng, alphabet, low, high):
    return "".join(rng.choice(alphabet) for position in range(rng.randint(low, high)))


@pytest.mark.parametrize("seed", range(5))
def test_matcher_equals_linear_scan_on_random_rules(seed):
    # A small alphabet makes prefixes of one another common, which is where a
    # longest-match bug would show.
    rng = random.Random(seed)
    alphabet = "ab/:.-"
    sources = {_random_text(rng, alphabet, 1, 6) for attempt in range(40)}
    rules = [
        PrefixOverride(source, "m%d/" % index) for index, source in enumerate(sources)
    ]
    matcher = PrefixMatcher(rules)

    for attempt in range(2000):
        reference = _random_text(rng, alphabet, 0, 10)
        assert matcher.rewrite(reference) == linear_scan_rewrite(
            rules, reference
        ), reference


@pytest.mark.parametrize(
    "rules, reference, expected",
    [
        pytest.param(
            "quay.io/pko=m/pko",
            "quay.io/pko-extra/x:1",
            "quay.io/pko-extra/x:1",
            id="sibling",
        ),
        pytest.param(
            "quay.io/pko=m/pko", "quay.io/pko/x:1", "m/pko/x:1", id="slash-follows"
        ),
        pytest.param(
            "quay.io/pko/x=m/x", "quay.io/pko/x:1", "m/x:1", id="colon-follows"
        ),
        pytest.param(
            "quay.io/pko/x=m/x",
            "quay.io/pko/x@sha256:" + "c" * 64,
            "m/x@sha256:" + "c" * 64,
            id="at-follows",
        ),
        pytest.param("quay.io/pko/x=m/x", "quay.io/pko/x", "m/x", id="end-follows"),
        pytest.param(
            "quay.io=m.io",
            "quay.io.example.com/x",
            "quay.io.example.com/x",
            id="domain-sibling",
        ),
        pytest.param("quay.io=m.io", "quay.io:443/x", "m.io:443/x", id="domain-port"),
        pytest.param(
            "quay.io/=m.io/", "quay.io/x", "m.io/x", id="from-ends-with-slash"
        ),
        pytest.param(
            "quay.io/=a/,quay.io/pko=b/pko",
            "quay.io/pko-extra/x",
            "a/pko-extra/x",
            id="falls-back-to-shorter",
        ),
    ],
)
def test_boundary_mode(rules, reference, expected):
    assert PrefixMatcher(rules, boundary=True).rewrite(reference) == expected


@pytest.mark.parametrize(
    "rules, reference, expected",
    [
        pytest.param(
            "docker.io/library/=m/lib/", "nginx:1", "m/lib/nginx:1", id="short-name"
        ),
        pytest.param(
            "docker.io/=m/hub/", "bitnami/redis", "m/hub/bitnami/redis", id="hub-user"
        ),
        pytest.param(
            "docker.io/library/=m/lib/",
            "index.docker.io/nginx",
            "m/lib/nginx",
            id="legacy",
        ),
        pytest.param("quay.io/=m/", "quay.io/x:1", "m/x:1", id="qualified-unchanged"),
        pytest.param(
            "nginx=m/nginx", "nginx:1", "nginx:1", id="short-from-never-matches"
        ),
    ],
)
def test_normalize_mode(rules, reference, expected):
    assert PrefixMatcher(rules, normalize=True).rewrite(reference) == expected


def test_normalize_rejects_invalid_reference():
    with pytest.raises(ImageReferenceError):
        PrefixMatcher("docker.io/=m/", normalize=True).rewrite("Nginx")


def test_normalize_and_boundary_together():
    matcher = PrefixMatcher(
        "docker.io/library/nginx=m/nginx", boundary=True, normalize=True
    )

    assert matcher.rewrite("nginx:1") == "m/nginx:1"
    assert matcher.rewrite("nginx-extra:1") == "nginx-extra:1"


def test_default_mode_does_not_normalize():
    assert PrefixMatcher("docker.io/library/=m/lib/").rewrite("nginx:1") == "nginx:1"


def test_rewrite_once_when_to_extends_from():
    matcher = PrefixMatcher("quay.io/pko/=quay.io/pko/mirror/")
    once = matcher.rewrite_once("quay.io/pko/x:1")

    assert once == "quay.io/pko/mirror/x:1"
    assert matcher.rewrite_once(once) == once
    assert matcher.rewrite(once) == "quay.io/pko/mirror/mirror/x:1"


def test_match_reports_rule_and_subject():
    found = PrefixMatcher("docker.io/=m/", normalize=True).match("nginx")

    assert found.rule == PrefixOverride("docker.io/", "m/")
    assert found.subject == "docker.io/library/nginx"
    assert found.rewritten == "m/library/nginx"


def test_empty_matcher_is_false_and_changes_nothing():
    matcher = PrefixMatcher("")

    assert not matcher
    assert matcher.rewrite("quay.io/x") == "quay.io/x"
    assert matcher.env_value == ""


def test_linear_scan_first_listed_wins_on_equal_length():
    # Two different prefixes of one string cannot have the same length, so a
    # tie needs the same 'from' twice, which only the linear scan accepts.
    rules = [PrefixOverride("a/", "first/"), PrefixOverride("a/", "second/")]

    assert linear_scan_rewrite(rules, "a/x") == "first/x"


def _boundary_scan(rules, reference):
    """Rewrite like the linear scan, accepting a 'from' only on a path boundary."""
    best = None
    for rule in rules:
        if not reference.startswith(rule.source):
            continue
        following = reference[len(rule.source) : len(rule.source) + 1]
        on_boundary = rule.source[-1] in "/:@" or following in ("", "/", ":", "@")
        if on_boundary and (best is None or len(rule.source) > len(best.source)):
            best = rule
    if best is None:
        return reference
    return best.target + reference[len(best.source) :]


@pytest.mark.parametrize("seed", range(5))
def test_boundary_matcher_equals_boundary_scan(seed):
    rng = random.Random(100 + seed)
    alphabet = "ab/:@.-"
    sources = {_random_text(rng, alphabet, 1, 6) for attempt in range(40)}
    rules = [
        PrefixOverride(source, "m%d/" % index) for index, source in enumerate(sources)
    ]
    matcher = PrefixMatcher(rules, boundary=True)

    for attempt in range(2000):
        reference = _random_text(rng, alphabet, 0, 10)
        assert matcher.rewrite(reference) == _boundary_scan(rules, reference), reference


@pytest.mark.parametrize("seed", range(3))
def test_normalize_matcher_equals_scan_of_qualified_form(seed):
    rng = random.Random(200 + seed)
    names = ["nginx", "redis", "library/busybox", "bitnami/redis", "quay.io/pko/x"]
    domains = ["", "docker.io/", "index.docker.io/", "quay.io/", "localhost:5000/"]
    rules = [
        PrefixOverride("docker.io/library/", "m/lib/"),
        PrefixOverride("docker.io/bitnami/", "m/bitnami/"),
        PrefixOverride("quay.io/", "m/quay/"),
        PrefixOverride("localhost:5000/", "m/local/"),
    ]
    matcher = PrefixMatcher(rules, normalize=True)

    for attempt in range(500):
        reference = (
            rng.choice(domains) + rng.choice(names) + rng.choice(["", ":1", ":v2.0"])
        )
        try:
            qualified = parse_image_reference(reference).fully_qualified()
        except ImageReferenceError:
            continue
        expected = linear_scan_rewrite(rules, qualified)
        if expected == qualified:
            # Without a match the reference stays as written, not qualified.
            expected = reference
        assert matcher.rewrite(reference) == expected, reference
