# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Check, before a bootstrap, that every image PKO will pull is in the mirror.

Three kinds of pulls happen during a Package Operator (PKO) bootstrap, and
the prefix overrides reach them differently:

- The kubelet pulls the bootstrap Job's container images exactly as the
  manifest names them. PKO's overrides do not apply, so the manifest must
  already name mirror references.
- PKO pulls the package image named in ``-self-bootstrap=``, applying the
  overrides to it as written, even when it already is a mirror reference.
- PKO deploys the images and dependencies in the package's
  ``manifest.lock.yaml``, applying the overrides and then pinning each one
  by digest: ``<rewritten repository>@<digest>``.

The checks model PKO's runtime matching: a plain string prefix on the
reference as written, longest ``from`` first. The registry is reached only
through the ``exists`` and ``lock_images`` callables, so this module is
tested without one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Mapping, Optional, Sequence, Tuple, Type

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReferenceError,
    parse_image_reference,
    quote_value,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_images import (
    ROLE_IMAGE,
    SELF_BOOTSTRAP_FLAGS,
    scan_manifest,
    split_flag,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_yaml import (
    ManifestError,
    compose_stream,
    is_string,
)
from ansible_collections.pko.airgap.plugins.module_utils.package_image import (
    LOCK_PATH,
    PackageImageError,
    choose_platform_manifest,
    parse_lock,
    read_layout_files,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    ENV_NAME,
    OverridesInput,
    PrefixMatcher,
    format_prefix_overrides,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    SOURCE,
    manifest_digest,
)

COVERED = "covered"
NOT_REDIRECTED = "not_redirected"
NOT_REWRITTEN = "not_rewritten"
MISSING = "missing"
UNREADABLE = "unreadable"

PULLER_KUBELET = "kubelet"
PULLER_PKO = "pko"

ExistsCallable = Callable[[str], bool]
LockImagesCallable = Callable[[str], Sequence[Mapping[str, object]]]


@dataclass(frozen=True)
class PulledImage:
    """One image pull during the bootstrap and whether the mirror can serve it.

    ``written`` is the reference as its source names it. ``pulled`` is what
    will be requested after the overrides, or ``None`` when that is unknown.
    ``status`` is ``COVERED``, ``NOT_REDIRECTED`` (no rule applies),
    ``NOT_REWRITTEN`` (a kubelet pull that a rule matches but the manifest
    still names the original), ``MISSING`` (not in the mirror) or
    ``UNREADABLE`` (the reference or digest in the lock file is invalid).
    """

    origin: str
    puller: str
    written: str
    pulled: Optional[str]
    rule: Optional[str]
    status: str
    detail: str = ""

    @property
    def covered(self) -> bool:
        return self.status == COVERED

    def as_dict(self) -> dict:
        return {
            "origin": self.origin,
            "puller": self.puller,
            "written": self.written,
            "pulled": self.pulled,
            "rule": self.rule,
            "status": self.status,
            "detail": self.detail,
        }

    def describe(self) -> str:
        return "%s %s: %s" % (self.origin, self.written, self.detail)


@dataclass
class CoverageReport:
    """The result of a coverage check.

    ``errors`` are failed registry lookups and lock file reads.
    ``unused_rules`` are rules that no pulled image matched, which is
    suspicious but not an error.
    """

    images: List[PulledImage] = field(default_factory=list)
    unused_rules: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)

    @property
    def uncovered(self) -> List[PulledImage]:
        return [image for image in self.images if not image.covered]

    @property
    def ok(self) -> bool:
        return not self.uncovered and not self.errors

    def failure_message(self) -> str:
        """Return the message that lists each problem, one per line."""
        lines = [
            "%d of %d images that the bootstrap pulls are not available from the "
            "mirror, so the bootstrap would fail:"
            % (len(self.uncovered), len(self.images))
        ]
        lines.extend("- " + image.describe() for image in self.uncovered)
        lines.extend("- " + error for error in self.errors)
        return "\n".join(lines)


@dataclass
class BootstrapImages:
    """The images a bootstrap manifest makes the kubelet and PKO pull.

    Each entry is ``(origin, reference)``. ``overrides`` is the value of the
    override env var in the manifest, or ``None`` when no container sets it.
    """

    kubelet: List[Tuple[str, str]] = field(default_factory=list)
    packages: List[Tuple[str, str]] = field(default_factory=list)
    overrides: Optional[str] = None


def bootstrap_images(
    text: str, source: str, env_name: str = ENV_NAME
) -> BootstrapImages:
    """Find the container images, ``-self-bootstrap=`` packages and overrides in a manifest.

    Raises ManifestError for a manifest that cannot be read, or whose
    containers set different override values.
    """
    scan = scan_manifest(compose_stream(text, source), env_name)
    found = BootstrapImages()
    for image in scan.images:
        origin = "container image (%s)" % image.describe()
        if image.role != ROLE_IMAGE:
            origin = "package image (%s)" % image.describe()
            found.packages.append((origin, image.value))
            continue
        found.kubelet.append((origin, image.value))
    for argument in scan.arguments:
        prefix, value = split_flag(argument.value)
        if prefix in SELF_BOOTSTRAP_FLAGS:
            try:
                parse_image_reference(value)
            except ImageReferenceError as error:
                raise ManifestError(
                    "%s: %s: the package image of %s is invalid: %s"
                    % (source, argument.describe(), prefix.rstrip("="), error)
                ) from None
            found.packages.append(
                ("self-bootstrap package (%s)" % argument.describe(), value)
            )

    values = {}
    for entry in scan.env_entries:
        value = entry.entries.get("value")
        if value is not None and is_string(value[1]):
            values.setdefault(value[1].value, entry.describe())
    if len(values) > 1:
        raise ManifestError(
            "%s: the containers set %s to different values (%s). Set one value, or "
            "pass the overrides explicitly."
            % (
                source,
                env_name,
                "; ".join("%s in %s" % (quote_value(v), w) for v, w in values.items()),
            )
        )
    if values:
        found.overrides = next(iter(values))
    return found


def check_manifest_coverage(
    text: str,
    source: str,
    overrides: OverridesInput,
    exists: ExistsCallable,
    lock_images: LockImagesCallable,
    env_name: str = ENV_NAME,
    lookup_errors: Tuple[Type[BaseException], ...] = (OSError, ValueError),
) -> Tuple[CoverageReport, str]:
    """Check the pulls of a bootstrap manifest; return the report and the rules used.

    PKO uses the override string that the manifest sets in ``env_name``, so
    those rules are checked. ``overrides`` is needed only when the manifest
    sets none, and must equal the manifest's value when both are given.
    Raises ManifestError for an unreadable manifest or missing or
    conflicting rules, and PrefixOverrideError for malformed rules.
    """
    images = bootstrap_images(text, source, env_name)
    given = None if overrides is None else format_prefix_overrides(overrides)
    if images.overrides:
        rules = format_prefix_overrides(images.overrides)
        if given is not None and given != rules:
            raise ManifestError(
                "%s sets %s to %s, but overrides is %s. PKO uses the value in the "
                "manifest, so rewrite the manifest with these overrides, or leave "
                "overrides unset to check the manifest's value."
                % (source, env_name, quote_value(rules), quote_value(given))
            )
    elif given:
        rules = given
    else:
        raise ManifestError(
            "%s sets no %s, and overrides is not given, so there are no rules to "
            "check. Pass overrides, or rewrite the manifest first." % (source, env_name)
        )
    report = check_coverage(
        images.kubelet, images.packages, rules, exists, lock_images, lookup_errors
    )
    return report, rules


def check_coverage(
    kubelet_images: Iterable[Tuple[str, str]],
    package_images: Iterable[Tuple[str, str]],
    overrides: OverridesInput,
    exists: ExistsCallable,
    lock_images: LockImagesCallable,
    lookup_errors: Tuple[Type[BaseException], ...] = (OSError, ValueError),
) -> CoverageReport:
    """Check each pull of a bootstrap against the overrides and the mirror.

    ``kubelet_images`` and ``package_images`` are ``(origin, reference)``
    pairs, as :func:`bootstrap_images` returns them. ``exists(reference)``
    returns whether the mirror has a reference. It is called only for
    references that start with a rule's ``to``, never for one that no rule
    redirects. ``lock_images(package_reference)`` returns the lock file
    entries of a package in the mirror, as mappings with ``name``, ``image``
    and ``digest`` and an optional ``dependency`` flag. Exceptions of the
    types in ``lookup_errors`` from either callable are reported as errors.
    Raises PrefixOverrideError for malformed overrides.
    """
    pko = PrefixMatcher(overrides)
    report = CoverageReport()
    used = set()
    checker = _Checker(pko, exists, report, used, lookup_errors)

    for origin, reference in kubelet_images:
        checker.check_kubelet_image(origin, reference)
    for origin, reference in package_images:
        pulled = checker.check_pko_image(origin, reference)
        if pulled is not None and pulled.covered:
            checker.check_lock(pulled, lock_images)

    report.unused_rules = [str(rule) for rule in pko.rules if rule not in used]
    return report


class _Checker:
    def __init__(self, pko, exists, report, used, lookup_errors) -> None:
        self.pko = pko
        self.exists = exists
        self.report = report
        self.used = used
        self.lookup_errors = lookup_errors

    def add(self, image: PulledImage) -> PulledImage:
        self.report.images.append(image)
        return image

    def in_mirror(self, reference: str) -> Optional[bool]:
        try:
            return bool(self.exists(reference))
        except self.lookup_errors as error:
            self.report.errors.append(
                "checking whether the mirror has %s failed: %s" % (reference, error)
            )
            return None

    def check_kubelet_image(self, origin: str, reference: str) -> None:
        if self.pko.is_rewritten(reference):
            rule = self.rule_of_target(reference)
            self.add(
                self.mirror_status(origin, PULLER_KUBELET, reference, reference, rule)
            )
            return
        found = self.pko.match(reference)
        if found is None:
            self.add(self.not_redirected(origin, PULLER_KUBELET, reference))
            return
        self.used.add(found.rule)
        self.add(
            PulledImage(
                origin,
                PULLER_KUBELET,
                reference,
                reference,
                str(found.rule),
                NOT_REWRITTEN,
                "the kubelet pulls it as written, and PKO's overrides do not "
                "apply to it. Rewrite the manifest first "
                "(pko.airgap.manifest_prefix_override), which turns it into %s."
                % found.rewritten,
            )
        )

    def rule_of_target(self, reference: str) -> Optional[str]:
        """Return the rule whose longest 'to' starts ``reference``, and count it as used."""
        rules = [rule for rule in self.pko.rules if reference.startswith(rule.target)]
        if not rules:
            return None
        rule = max(rules, key=lambda candidate: len(candidate.target))
        self.used.add(rule)
        return str(rule)

    def check_pko_image(self, origin: str, reference: str) -> Optional[PulledImage]:
        found = self.pko.match(reference)
        pulled = reference if found is None else found.rewritten
        if found is not None:
            self.used.add(found.rule)
        if not self.pko.is_rewritten(pulled):
            return self.add(self.not_redirected(origin, PULLER_PKO, reference))
        rule = self.rule_of_target(pulled) if found is None else str(found.rule)
        return self.add(self.mirror_status(origin, PULLER_PKO, reference, pulled, rule))

    def not_redirected(self, origin: str, puller: str, reference: str) -> PulledImage:
        return PulledImage(
            origin,
            puller,
            reference,
            None,
            None,
            NOT_REDIRECTED,
            "no rule redirects it to the mirror. Add a rule whose 'from' is a prefix "
            "of it.",
        )

    def mirror_status(
        self, origin: str, puller: str, written: str, pulled: str, rule: Optional[str]
    ) -> PulledImage:
        present = self.in_mirror(pulled)
        if present:
            return PulledImage(origin, puller, written, pulled, rule, COVERED)
        detail = (
            "redirected to %s, which the mirror does not have. Mirror it first."
            % pulled
        )
        if present is None:
            detail = "redirected to %s; whether the mirror has it is unknown." % pulled
        return PulledImage(origin, puller, written, pulled, rule, MISSING, detail)

    def check_lock(self, package: PulledImage, lock_images: LockImagesCallable) -> None:
        try:
            entries = list(lock_images(package.pulled))
        except self.lookup_errors as error:
            self.report.errors.append(
                "reading the lock file of package %s failed: %s"
                % (package.pulled, error)
            )
            return
        for entry in entries:
            self.check_lock_entry(package.pulled, entry)

    def check_lock_entry(self, package: str, entry: Mapping[str, object]) -> None:
        noun = "dependency" if entry.get("dependency") else "image"
        origin = "lock file %s %s of package %s" % (noun, entry.get("name"), package)
        image, digest = entry.get("image"), entry.get("digest")
        written = "%s@%s" % (image, digest)
        found = self.pko.match(image) if isinstance(image, str) else None
        if found is not None:
            self.used.add(found.rule)
        rewritten = image if found is None else found.rewritten
        try:
            pulled = parse_image_reference(rewritten).with_digest(digest)
            parse_image_reference(pulled)
        except ImageReferenceError as error:
            self.add(
                PulledImage(
                    origin, PULLER_PKO, written, None, None, UNREADABLE, "%s." % error
                )
            )
            return
        if not self.pko.is_rewritten(pulled):
            self.add(self.not_redirected(origin, PULLER_PKO, written))
            return
        rule = self.rule_of_target(pulled) if found is None else str(found.rule)
        self.add(self.mirror_status(origin, PULLER_PKO, written, pulled, rule))


def read_lock_images(
    skopeo, reference: str, tmpdir: Optional[str] = None
) -> List[dict]:
    """Return the lock file entries of package image ``reference``, read with skopeo.

    ``skopeo`` is a module_utils.skopeo.Skopeo whose source side is the
    mirror: one platform of the image is pulled into a temporary OCI layout
    and ``package/manifest.lock.yaml`` is read from its layers. Images come
    first, then dependencies with ``dependency: True``. A package without a
    lock file pins no images, so the result is empty. Raises
    PackageImageError when the image is missing or its lock file is invalid,
    and SkopeoError when skopeo fails.
    """
    raw = skopeo.inspect_raw(reference, SOURCE)
    if raw is None:
        raise PackageImageError(
            "package image %s is not in the mirror, so its lock file cannot be read"
            % reference
        )
    platform_digest = choose_platform_manifest(raw) or manifest_digest(raw)
    platform_reference = parse_image_reference(reference).with_digest(platform_digest)
    with tempfile.TemporaryDirectory(prefix="pko-airgap-coverage-", dir=tmpdir) as tmp:
        layout = os.path.join(tmp, "layout")
        skopeo.pull_oci_layout(platform_reference, layout)
        files = read_layout_files(layout, [LOCK_PATH])
    if LOCK_PATH not in files:
        return []

    lock = parse_lock(files[LOCK_PATH], reference)
    entries = [
        {"name": image.name, "image": image.image, "digest": image.digest}
        for image in lock.images
    ]
    entries.extend(
        {
            "name": dependency.name,
            "image": dependency.image,
            "digest": dependency.digest,
            "dependency": True,
        }
        for dependency in lock.dependencies
    )
    return entries
