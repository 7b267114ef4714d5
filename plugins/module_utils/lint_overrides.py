# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Find prefix override rules that are valid but probably wrong.

Package Operator (PKO) matches each rule's ``from`` as a plain string prefix
of the reference exactly as written. It also applies the overrides again
wherever it reads a reference, including references that this collection
already rewrote, such as the ClusterPackage image that the bootstrap Job
passes on. The checks here point out where that behaviour differs from what
a rule's author probably meant. They return warnings and reject no rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Union

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReferenceError,
    quote_value,
    split_domain,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    BOUNDARY_CHARACTERS,
    OverridesInput,
    PrefixMatcher,
    PrefixOverride,
)

# How many example references a warning lists.
EXAMPLE_LIMIT = 3

SIBLING_MATCH = "sibling-match"
TO_EXTENDS_FROM = "to-extends-from"
REWRITE_CHAIN = "rewrite-chain"
SHADOWED_RULE = "shadowed-rule"
REDUNDANT_RULE = "redundant-rule"
SLASH_MISMATCH = "slash-mismatch"
NORMALIZED_ONLY = "normalized-only"
NEVER_MATCHES_NORMALIZED = "never-matches-normalized"
TO_DOCKER_HUB = "to-docker-hub"


@dataclass(frozen=True)
class LintWarning:
    """One finding: a stable ``code`` to filter on and a message with the fix."""

    code: str
    message: str

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


def lint_overrides(
    overrides: OverridesInput,
    references: Optional[Iterable[str]] = None,
    boundary: bool = False,
    normalize: bool = False,
) -> List[LintWarning]:
    """Return the warnings of :func:`lint_rules` and :func:`lint_references`.

    Without ``references``, each ``from`` that could match a sibling
    repository is reported. With them, only the references it does match
    are reported. ``boundary`` and ``normalize`` describe how this collection will
    match. Raises PrefixOverrideError for malformed overrides.
    """
    pko = PrefixMatcher(overrides)
    found = lint_rules(pko, normalize=normalize)
    if references is None:
        if not boundary:
            found.extend(_check_siblings(pko, None))
        return found
    found.extend(lint_references(pko, references, boundary=boundary))
    return found


def lint_rules(overrides: OverridesInput, normalize: bool = False) -> List[LintWarning]:
    """Return warnings about the rules themselves, without looking at references.

    ``overrides`` may also be a PrefixMatcher, which saves parsing the rules
    again. Raises PrefixOverrideError for malformed overrides.
    """
    pko = _pko_matcher(overrides)
    found: List[LintWarning] = []
    for rule in pko.rules:
        found.extend(_check_chain(pko, rule))
    for rule in pko.rules:
        found.extend(_check_slashes(rule))
    for rule in pko.rules:
        found.extend(_check_target_registry(rule))
    if normalize:
        found.extend(_check_normalized_form(pko.rules))
    found.extend(_check_shadowing(pko.rules))
    return found


def lint_references(
    overrides: OverridesInput, references: Iterable[str], boundary: bool = False
) -> List[LintWarning]:
    """Return warnings about how the rules treat ``references``, as written.

    Reports references that a ``from`` without a trailing ``/`` matches in a
    sibling repository (unless ``boundary`` matching is used), and
    references that a rule matches only in their fully qualified Docker Hub
    form, which PKO will not redirect at runtime.
    """
    pko = _pko_matcher(overrides)
    seen = list(dict.fromkeys(references))
    found: List[LintWarning] = []
    if not boundary:
        found.extend(_check_siblings(pko, seen))
    found.extend(_check_normalized_only(pko, seen))
    return found


def _pko_matcher(overrides: Union[OverridesInput, PrefixMatcher]) -> PrefixMatcher:
    # The checks model PKO's runtime: plain prefixes on references as written.
    if isinstance(overrides, PrefixMatcher):
        if not overrides.boundary and not overrides.normalize:
            return overrides
        return PrefixMatcher(overrides.rules)
    return PrefixMatcher(overrides)


def _example(rule: PrefixOverride) -> str:
    if rule.source.endswith("/"):
        return rule.source + "example:1.0"
    return rule.source + "/example:1.0"


def _check_chain(pko: PrefixMatcher, rule: PrefixOverride) -> List[LintWarning]:
    # PKO applies the overrides to a reference this collection already
    # rewrote, so a rule whose result another rule matches rewrites twice.
    example = _example(rule)
    once = rule.target + example[len(rule.source) :]
    found = pko.match(once)
    if found is None:
        return []
    twice = found.rewritten
    if found.rule == rule:
        return [
            LintWarning(
                TO_EXTENDS_FROM,
                "rule %s: the 'to' starts with the 'from', so an already rewritten "
                "reference matches the rule again. PKO applies the overrides to "
                "references that are already rewritten (such as the package image "
                "the bootstrap Job passes on), so %s would become %s. Choose a 'to' "
                "that does not start with the 'from'."
                % (quote_value(str(rule)), quote_value(once), quote_value(twice)),
            )
        ]
    return [
        LintWarning(
            REWRITE_CHAIN,
            "rule %s: rule %s matches its results, so PKO, which applies the overrides "
            "to references that are already rewritten, would turn %s into %s. Make the "
            "'to' of the first rule a prefix that no 'from' matches."
            % (
                quote_value(str(rule)),
                quote_value(str(found.rule)),
                quote_value(once),
                quote_value(twice),
            ),
        )
    ]


def _check_slashes(rule: PrefixOverride) -> List[LintWarning]:
    if rule.source.endswith("/") == rule.target.endswith("/"):
        return []
    example = (
        rule.source + "example:1.0" if rule.source.endswith("/") else _example(rule)
    )
    rewritten = rule.target + example[len(rule.source) :]
    return [
        LintWarning(
            SLASH_MISMATCH,
            "rule %s: only one of 'from' and 'to' ends with '/'. PKO joins 'to' and "
            "the rest of the reference as they are, so %s would become %s. End both "
            "with '/' or neither."
            % (quote_value(str(rule)), quote_value(example), quote_value(rewritten)),
        )
    ]


def _check_target_registry(rule: PrefixOverride) -> List[LintWarning]:
    domain, _path = split_domain(rule.target)
    if "/" not in rule.target or domain:
        return []
    return [
        LintWarning(
            TO_DOCKER_HUB,
            "rule %s: 'to' names no registry host, so the images would be pulled "
            "from Docker Hub as %s. Start 'to' with the mirror's host, for example "
            "'mirror.example.com/%s'."
            % (
                quote_value(str(rule)),
                quote_value("docker.io/" + rule.target),
                rule.target,
            ),
        )
    ]


def _check_siblings(
    pko: PrefixMatcher, references: Optional[List[str]]
) -> List[LintWarning]:
    open_rules = [
        rule for rule in pko.rules if rule.source[-1] not in BOUNDARY_CHARACTERS
    ]
    if not open_rules:
        return []
    found = []
    if references is None:
        for rule in open_rules:
            found.append(
                LintWarning(
                    SIBLING_MATCH,
                    "rule %s: the 'from' does not end with '/', so PKO also applies it "
                    "to sibling repositories that merely start with the same text, "
                    "such as %s. Add a trailing '/' unless that is intended."
                    % (
                        quote_value(str(rule)),
                        quote_value(rule.source + "-other/example"),
                    ),
                )
            )
        return found

    siblings = {rule: [] for rule in open_rules}
    for reference in references:
        match = pko.match(reference)
        if match is None or match.rule not in siblings:
            continue
        following = reference[len(match.rule.source) : len(match.rule.source) + 1]
        if following and following not in BOUNDARY_CHARACTERS:
            siblings[match.rule].append(reference)
    for rule, matched in siblings.items():
        if matched:
            found.append(
                LintWarning(
                    SIBLING_MATCH,
                    "rule %s: the 'from' does not end on a path boundary and matches "
                    "the sibling repository reference %s. Add a trailing '/' if "
                    "those should stay as they are."
                    % (quote_value(str(rule)), _list(matched)),
                )
            )
    return found


def _check_normalized_only(
    pko: PrefixMatcher, references: List[str]
) -> List[LintWarning]:
    normalized = PrefixMatcher(pko.rules, normalize=True)
    affected = {}
    for reference in references:
        if pko.is_rewritten(reference) or pko.match(reference) is not None:
            continue
        try:
            found = normalized.match(reference)
        except ImageReferenceError:
            continue
        if found is not None:
            affected.setdefault(found.rule, []).append(
                "%s (%s)" % (reference, found.subject)
            )
    return [
        LintWarning(
            NORMALIZED_ONLY,
            "rule %s matches %s only in the fully qualified form. PKO matches the "
            "reference as written, so it will not redirect it at runtime. Write the "
            "image fully qualified, or add a rule for the short form."
            % (quote_value(str(rule)), _list(matched)),
        )
        for rule, matched in affected.items()
    ]


def _check_normalized_form(rules: List[PrefixOverride]) -> List[LintWarning]:
    found = []
    for rule in rules:
        first, slash, rest = rule.source.partition("/")
        if not slash:
            continue
        is_domain = "." in first or ":" in first or first == "localhost"
        legacy = first in ("index.docker.io", "registry-1.docker.io")
        if is_domain and not legacy:
            continue
        found.append(
            LintWarning(
                NEVER_MATCHES_NORMALIZED,
                "rule %s never matches with normalize enabled, because references are "
                "then compared in their fully qualified form, such as "
                "docker.io/library/nginx:1. Write the 'from' in that form."
                % quote_value(str(rule)),
            )
        )
    return found


def _check_shadowing(rules: List[PrefixOverride]) -> List[LintWarning]:
    found = []
    ordered = sorted(rules, key=lambda rule: len(rule.source))
    for position, outer in enumerate(ordered):
        for inner in ordered[position + 1 :]:
            if not inner.source.startswith(outer.source):
                continue
            outer_result = outer.target + inner.source[len(outer.source) :]
            if outer_result == inner.target:
                found.append(
                    LintWarning(
                        REDUNDANT_RULE,
                        "rule %s is redundant: rule %s already rewrites those "
                        "references the same way. Remove it."
                        % (quote_value(str(inner)), quote_value(str(outer))),
                    )
                )
            else:
                found.append(
                    LintWarning(
                        SHADOWED_RULE,
                        "rule %s shadows rule %s for references that start with %s, "
                        "because the longest 'from' wins: they go to %s, not %s. "
                        "Check that this exception is intended."
                        % (
                            quote_value(str(inner)),
                            quote_value(str(outer)),
                            quote_value(inner.source),
                            quote_value(inner.target),
                            quote_value(outer_result),
                        ),
                    )
                )
    return found


def _list(values: List[str]) -> str:
    shown = ", ".join(values[:EXAMPLE_LIMIT])
    if len(values) > EXAMPLE_LIMIT:
        shown += " and %d more" % (len(values) - EXAMPLE_LIMIT)
    return shown
