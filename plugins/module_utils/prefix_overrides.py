# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Package Operator image prefix overrides: parsing, formatting and matching.

Package Operator (PKO) reads ``PKO_IMAGE_PREFIX_OVERRIDES`` as ``from=to``
entries joined by commas. It splits each entry on its first ``=``, trims
nothing, and rewrites a reference that starts with ``from`` (a plain string
prefix) to ``to`` followed by the rest of the reference. When several
``from`` values match, the longest one wins, whatever the order of the rules.

PKO silently drops or never matches malformed entries. This module rejects
them instead, naming the entry and the fix, so that a typo fails before
anything reaches a cluster. For every entry it accepts, the rewrite equals
PKO's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Union

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReferenceError,
    parse_image_reference,
    quote_value,
)

ENV_NAME = "PKO_IMAGE_PREFIX_OVERRIDES"
EXAMPLE = "quay.io/package-operator/=mirror.example.com/pko/"

# Characters after which a prefix ends on a path boundary in boundary mode.
BOUNDARY_CHARACTERS = "/:@"


class PrefixOverrideError(ValueError):
    """A malformed prefix override entry or list."""


@dataclass(frozen=True)
class PrefixOverride:
    """One rule: references that start with ``source`` get ``target`` instead."""

    source: str
    target: str

    def as_dict(self) -> dict:
        return {"from": self.source, "to": self.target}

    def __str__(self) -> str:
        return "%s=%s" % (self.source, self.target)


OverridesInput = Union[None, str, Sequence[object]]


def parse_prefix_overrides(value: OverridesInput) -> List[PrefixOverride]:
    """Parse PKO's override string or a list of ``{from, to}`` mappings.

    ``None`` and ``""`` give an empty list. Raises PrefixOverrideError for an
    entry without ``=``, an empty entry, an empty ``from`` or ``to``,
    whitespace anywhere in an entry, a ``,`` or ``=`` that the string form
    cannot carry, and a ``from`` given twice.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return _check_duplicates(_parse_string(value))
    if isinstance(value, (list, tuple)):
        return _check_duplicates(
            [_parse_mapping(index, item) for index, item in enumerate(value, 1)]
        )
    raise PrefixOverrideError(
        "prefix overrides must be a string like %s or a list of {from, to} "
        "mappings, got %s %s"
        % (quote_value(EXAMPLE), type(value).__name__, quote_value(value))
    )


def _parse_string(value: str) -> List[PrefixOverride]:
    if value == "":
        return []

    rules = []
    for index, entry in enumerate(value.split(","), 1):
        if entry == "":
            raise PrefixOverrideError(
                "prefix override entry %d in %s is empty. Remove the extra ',' "
                "(a trailing comma or two commas in a row)."
                % (index, quote_value(value))
            )
        if entry != entry.strip():
            raise PrefixOverrideError(
                "prefix override entry %d %s has whitespace around it. PKO does "
                "not trim entries, so it would never match. Remove the spaces "
                "around ',' and '='." % (index, quote_value(entry))
            )
        if "=" not in entry:
            raise PrefixOverrideError(
                "prefix override entry %d %s has no '='. PKO would silently drop "
                "it. Write it as from=to, for example %s."
                % (index, quote_value(entry), quote_value(EXAMPLE))
            )
        source, separator, target = entry.partition("=")
        rules.append(_validated(index, entry, source, target))
    return rules


def _parse_mapping(index: int, item: object) -> PrefixOverride:
    if not isinstance(item, dict):
        raise PrefixOverrideError(
            "prefix override item %d must be a mapping with keys 'from' and "
            "'to', got %s %s" % (index, type(item).__name__, quote_value(item))
        )
    unknown = sorted(str(key) for key in item if key not in ("from", "to"))
    if unknown:
        raise PrefixOverrideError(
            "prefix override item %d %s has unknown keys %s. Use only 'from' "
            "and 'to'." % (index, quote_value(item), quote_value(", ".join(unknown)))
        )
    for key in ("from", "to"):
        if key not in item:
            raise PrefixOverrideError(
                "prefix override item %d %s is missing '%s'. Give both 'from' "
                "and 'to', for example {from: quay.io/package-operator/, to: "
                "mirror.example.com/pko/}." % (index, quote_value(item), key)
            )
        if not isinstance(item[key], str):
            raise PrefixOverrideError(
                "prefix override item %d: '%s' must be a string, got %s %s"
                % (index, key, type(item[key]).__name__, quote_value(item[key]))
            )
    entry = "%s=%s" % (item["from"], item["to"])
    if "=" in item["from"]:
        raise PrefixOverrideError(
            "prefix override item %d: 'from' %s contains '='. PKO splits each "
            "entry on its first '=', so it cannot carry this value. Remove the "
            "'='." % (index, quote_value(item["from"]))
        )
    return _validated(index, entry, item["from"], item["to"])


def _validated(index: int, entry: str, source: str, target: str) -> PrefixOverride:
    if source == "":
        raise PrefixOverrideError(
            "prefix override entry %d %s has an empty 'from'. PKO never applies "
            "it. Put the prefix to replace before '=', for example %s."
            % (index, quote_value(entry), quote_value(EXAMPLE))
        )
    if target == "":
        raise PrefixOverrideError(
            "prefix override entry %d %s has an empty 'to', which would strip "
            "the registry and send pulls to Docker Hub. Put the mirror prefix "
            "after '=', for example %s."
            % (index, quote_value(entry), quote_value(EXAMPLE))
        )
    for part, text in (("from", source), ("to", target)):
        if any(ch.isspace() for ch in text):
            raise PrefixOverrideError(
                "prefix override entry %d %s has whitespace in its '%s' %s. "
                "Image references contain no whitespace, so it would never "
                "match. Remove it."
                % (index, quote_value(entry), part, quote_value(text))
            )
        if not text.isprintable():
            raise PrefixOverrideError(
                "prefix override entry %d %s has a control character in its "
                "'%s'. Image references contain none, so it would never match. "
                "Remove it." % (index, quote_value(entry), part)
            )
        if "," in text:
            raise PrefixOverrideError(
                "prefix override entry %d %s has ',' in its '%s'. The ',' "
                "separates entries in %s, so it cannot be part of a prefix. "
                "Remove it." % (index, quote_value(entry), part, ENV_NAME)
            )
    if "=" in target:
        raise PrefixOverrideError(
            "prefix override entry %d %s has a second '=' in its 'to' %s. "
            "Image references never contain '='. Check for a missing ','."
            % (index, quote_value(entry), quote_value(target))
        )
    return PrefixOverride(source, target)


def _check_duplicates(rules: List[PrefixOverride]) -> List[PrefixOverride]:
    first_index = {}
    for index, rule in enumerate(rules, 1):
        if rule.source in first_index:
            raise PrefixOverrideError(
                "prefix override entry %d %s repeats the 'from' %s of entry %d. "
                "PKO applies only one of them. Keep one rule per 'from'."
                % (
                    index,
                    quote_value(str(rule)),
                    quote_value(rule.source),
                    first_index[rule.source],
                )
            )
        first_index[rule.source] = index
    return rules


def format_prefix_overrides(rules: OverridesInput) -> str:
    """Return the ``from=to,from=to`` string that PKO reads from its env var."""
    return ",".join(str(rule) for rule in _as_rules(rules))


def _as_rules(
    rules: Union[OverridesInput, Iterable[PrefixOverride]],
) -> List[PrefixOverride]:
    if isinstance(rules, (list, tuple)) and all(
        isinstance(rule, PrefixOverride) for rule in rules
    ):
        return _check_duplicates(list(rules))
    return parse_prefix_overrides(rules)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Match:
    """The rule that applies to a reference, and the rewritten reference."""

    rule: PrefixOverride
    subject: str
    rewritten: str


class _PrefixTrie:
    """Longest-prefix lookup over many strings with one compiled regex.

    The pattern is a radix tree written as nested alternations, longer
    branches first. Python's backtracking regex engine takes the first
    alternative that matches, so the first match is the longest prefix, and
    the scan runs in C in time linear in the reference, not in the number of
    rules. A terminal that must end on a path boundary carries a lookahead.
    """

    def __init__(self, prefixes: Iterable[str], boundary: bool) -> None:
        tree: dict = {}
        for prefix in prefixes:
            node = tree
            for ch in prefix:
                node = node.setdefault(ch, {})
            node[""] = True
        self._boundary = boundary
        self._regex = re.compile(self._pattern(tree, "")) if tree else None

    def _terminal(self, prefix: str) -> str:
        if not self._boundary or prefix[-1:] in tuple(BOUNDARY_CHARACTERS):
            return ""
        return r"(?=[%s]|\Z)" % re.escape(BOUNDARY_CHARACTERS)

    def _pattern(self, node: dict, prefix: str) -> str:
        branches = []
        for ch in sorted(key for key in node if key):
            child, text = node[ch], ch
            # Collapse chains of single children into one literal.
            while len(child) == 1 and "" not in child:
                (next_ch,) = child
                text += next_ch
                child = child[next_ch]
            branches.append(re.escape(text) + self._pattern(child, prefix + text))
        if "" in node:
            branches.append(self._terminal(prefix))
        if len(branches) == 1:
            return branches[0]
        return "(?:%s)" % "|".join(branches)

    def longest(self, text: str) -> Optional[int]:
        """Return the length of the longest stored prefix of ``text``, if any."""
        if self._regex is None:
            return None
        found = self._regex.match(text)
        return None if found is None else found.end()


class PrefixMatcher:
    """Apply prefix overrides to image references.

    By default the match is PKO's: a plain string prefix on the reference as
    written, longest ``from`` first. ``boundary=True`` accepts a ``from`` only
    where it ends with, or is followed by, ``/``, ``:``, ``@`` or the end of
    the reference. ``normalize=True`` matches on the fully qualified reference
    (``nginx`` is ``docker.io/library/nginx``), which PKO itself does not do.
    """

    def __init__(
        self, overrides: OverridesInput, boundary: bool = False, normalize: bool = False
    ) -> None:
        self.rules = _as_rules(overrides)
        self.boundary = boundary
        self.normalize = normalize
        self._by_source = {rule.source: rule for rule in self.rules}
        self._sources = _PrefixTrie(self._by_source, boundary)
        self._targets = _PrefixTrie((rule.target for rule in self.rules), False)

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def env_value(self) -> str:
        return format_prefix_overrides(self.rules)

    def subject(self, reference: str) -> str:
        """Return the string the rules are matched against."""
        if self.normalize:
            return parse_image_reference(reference).fully_qualified()
        return reference

    def match(self, reference: str) -> Optional[Match]:
        """Return the rule with the longest matching ``from``, or None."""
        subject = self.subject(reference)
        length = self._sources.longest(subject)
        if length is None:
            return None
        rule = self._by_source[subject[:length]]
        return Match(rule, subject, rule.target + subject[length:])

    def rewrite(self, reference: str) -> str:
        """Return the rewritten reference, or ``reference`` when no rule matches."""
        # The same steps as match(), without building a Match, because this
        # runs once per reference in bulk rewrites.
        subject = self.subject(reference) if self.normalize else reference
        length = self._sources.longest(subject)
        if length is None:
            return reference
        return self._by_source[subject[:length]].target + subject[length:]

    def is_rewritten(self, reference: str) -> bool:
        """Return True when ``reference`` already starts with some rule's ``to``."""
        return self._targets.longest(reference) is not None

    def rewrite_once(self, reference: str) -> str:
        """Rewrite like :meth:`rewrite`, but leave already rewritten references.

        Running a rewrite on its own output must change nothing, also when a
        ``to`` extends its ``from`` (``quay.io/pko/=quay.io/pko/mirror/``), so
        a reference that starts with a ``to`` counts as already redirected.
        """
        if self.is_rewritten(reference):
            return reference
        return self.rewrite(reference)

    def check_rewritten(self, reference: str, rewritten: str) -> None:
        """Raise PrefixOverrideError when a rule turned ``reference`` into an invalid one.

        ``rewritten`` is what :meth:`rewrite` returned for ``reference``. A
        ``to`` such as ``m.io/PKO/`` yields references that no runtime pulls.
        """
        if rewritten == reference:
            return
        try:
            parse_image_reference(rewritten)
        except ImageReferenceError as error:
            raise PrefixOverrideError(
                "the rule %s turns %s into %s, which is not a valid image reference "
                "(%s). Fix the rule's 'to'."
                % (
                    quote_value(str(self.match(reference).rule)),
                    quote_value(reference),
                    quote_value(rewritten),
                    error.reason,
                )
            ) from None


def linear_scan_rewrite(rules: Sequence[PrefixOverride], reference: str) -> str:
    """Rewrite ``reference`` the way PKO's loop does: test every rule in turn.

    This is the reference implementation that the fast matcher is tested and
    benchmarked against.
    """
    best = None
    for rule in rules:
        if rule.source and reference.startswith(rule.source):
            if best is None or len(rule.source) > len(best.source):
                best = rule
    if best is None:
        return reference
    return best.target + reference[len(best.source) :]
