# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters for Package Operator image prefix overrides.

The documentation of each filter is in the YAML file named after it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import List, Tuple

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReferenceError,
    parse_image_reference,
    quote_value,
)
from ansible_collections.pko.airgap.plugins.module_utils.lint_overrides import (
    lint_overrides,
    lint_references,
    lint_rules,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixMatcher,
    PrefixOverrideError,
    format_prefix_overrides,
    parse_prefix_overrides,
)

display = Display()


def _fail(filter_name: str, error: Exception) -> AnsibleFilterError:
    return AnsibleFilterError("%s: %s" % (filter_name, error))


def _warn(filter_name: str, warnings) -> None:
    # Display prints each distinct warning once per run, so a filter used in
    # a loop does not repeat them.
    for warning in warnings:
        display.warning("%s: %s" % (filter_name, warning.message))


def _check_bool(filter_name: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise AnsibleFilterError(
            "%s: %s must be true or false, got %s"
            % (filter_name, name, quote_value(value))
        )
    return value


@lru_cache(maxsize=64)
def _matchers(
    env_value: str, boundary: bool, normalize: bool
) -> Tuple[PrefixMatcher, list]:
    """Return the matcher and the rule warnings for one override string.

    Building the matcher compiles a regular expression over all rules, so a
    filter called in a loop reuses it.
    """
    matcher = PrefixMatcher(env_value, boundary=boundary, normalize=normalize)
    return matcher, lint_rules(matcher, normalize=normalize)


def image_prefix_override(image, overrides, boundary=False, normalize=False):
    """Return ``image`` with the prefix overrides applied, as PKO would."""
    name = "image_prefix_override"
    _check_bool(name, "boundary", boundary)
    _check_bool(name, "normalize", normalize)
    try:
        parse_image_reference(image)
        env_value = format_prefix_overrides(overrides)
        matcher, rule_warnings = _matchers(env_value, boundary, normalize)
        result = matcher.rewrite(str(image))
        matcher.check_rewritten(str(image), result)
    except (ImageReferenceError, PrefixOverrideError) as error:
        raise _fail(name, error) from None
    _warn(name, rule_warnings)
    _warn(name, lint_references(matcher, [str(image)], boundary=boundary))
    return result


def prefix_overrides(value) -> List[dict]:
    """Return PKO's override string as a list of ``{from, to}`` mappings."""
    name = "prefix_overrides"
    if not isinstance(value, str):
        raise AnsibleFilterError(
            "%s: expected the override string, such as "
            "'quay.io/package-operator/=mirror.example.com/pko/', got %s %s. To "
            "build the string from a list, use pko.airgap.prefix_overrides_string."
            % (name, type(value).__name__, quote_value(value))
        )
    try:
        rules = parse_prefix_overrides(value)
        warnings = lint_overrides(rules)
    except PrefixOverrideError as error:
        raise _fail(name, error) from None
    _warn(name, warnings)
    return [rule.as_dict() for rule in rules]


def prefix_overrides_string(value) -> str:
    """Return the ``from=to,from=to`` string for PKO from a list of ``{from, to}``."""
    name = "prefix_overrides_string"
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError(
            "%s: expected a list of {from, to} mappings, got %s %s. To parse an "
            "override string, use pko.airgap.prefix_overrides."
            % (name, type(value).__name__, quote_value(value))
        )
    try:
        rules = parse_prefix_overrides(value)
        warnings = lint_overrides(rules)
    except PrefixOverrideError as error:
        raise _fail(name, error) from None
    _warn(name, warnings)
    return format_prefix_overrides(rules)


class FilterModule:
    def filters(self):
        return {
            "image_prefix_override": image_prefix_override,
            "prefix_overrides": prefix_overrides,
            "prefix_overrides_string": prefix_overrides_string,
        }
