# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Time PrefixMatcher against a PKO-style linear scan over the rules.

Package Operator tests every rule against every reference and keeps the
longest matching ``from``. PrefixMatcher compiles all rules into one regular
expression. This script rewrites the same references with both, in one
process, asserts that every result is identical, and prints the ratio. The
rules nest (``registry/``, ``registry/org/``, ``registry/org/repo``) so that
the longest match has to win over shorter ones. Run from the repository
root:

    .venv/bin/python benchmarks/matcher/bench_matcher.py
"""

import argparse
import os
import platform
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
# Imported for its side effect: it makes ansible_collections.pko.airgap importable.
import conftest  # noqa: E402,F401 pylint: disable=unused-import

from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (  # noqa: E402
    PrefixMatcher,
    PrefixOverride,
    linear_scan_rewrite,
)


def generate_rules(count: int, rng: random.Random) -> list:
    """Return ``count`` rules with distinct, often nested, ``from`` values."""
    sources = []
    seen = set()
    while len(sources) < count:
        registry = "registry%d.example.com" % rng.randrange(count // 10 + 1)
        depth = rng.choice((0, 1, 1, 2))
        source = registry + "/"
        if depth >= 1:
            source += "org%d/" % rng.randrange(20)
        if depth >= 2:
            source += "repo%d" % rng.randrange(50)
            if rng.random() < 0.5:
                source += "/"
        if source not in seen:
            seen.add(source)
            sources.append(source)
    return [
        PrefixOverride(source, "mirror.example.com:5000/m%d/" % index)
        for index, source in enumerate(sources)
    ]


def generate_references(count: int, rules: int, rng: random.Random) -> list:
    references = []
    for repetition in range(count):
        registry = "registry%d.example.com" % rng.randrange(rules // 10 + 20)
        references.append(
            "%s/org%d/repo%d-%d:v1.%d"
            % (
                registry,
                rng.randrange(25),
                rng.randrange(60),
                rng.randrange(3),
                rng.randrange(100),
            )
        )
    return references


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=int, default=100000)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--min-ratio", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()

    rng = random.Random(options.seed)
    rules = generate_rules(options.rules, rng)
    references = generate_references(options.references, options.rules, rng)

    started = time.process_time()
    matcher = PrefixMatcher(rules)
    build_seconds = time.process_time() - started

    started = time.process_time()
    fast = [matcher.rewrite(reference) for reference in references]
    matcher_seconds = time.process_time() - started

    started = time.process_time()
    slow = [linear_scan_rewrite(rules, reference) for reference in references]
    linear_seconds = time.process_time() - started

    mismatches = sum(1 for left, right in zip(fast, slow) if left != right)
    rewritten = sum(
        1 for reference, result in zip(references, fast) if reference != result
    )
    ratio = linear_seconds / matcher_seconds

    print("python: %s" % platform.python_version())
    print("rules: %d" % len(rules))
    print("references: %d" % len(references))
    print("rewritten: %d" % rewritten)
    print("mismatches: %d" % mismatches)
    print("matcher_build_seconds: %.3f" % build_seconds)
    print("matcher_seconds: %.3f" % matcher_seconds)
    print("linear_scan_seconds: %.3f" % linear_seconds)
    print("linear_vs_matcher_ratio: %.1f" % ratio)
    if mismatches:
        print("result: FAIL (%d results differ from the linear scan)" % mismatches)
        return 1
    if ratio < options.min_ratio:
        print("result: FAIL (ratio below %.0f)" % options.min_ratio)
        return 1
    print("result: ok (identical results, ratio at least %.0f)" % options.min_ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
