# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Package Operator package contents: manifest, lock file, CRDs and templates.

The layout is the one tests/localenv/seed.py writes: ``package/manifest.yaml``,
``package/manifest.lock.yaml``, ``package/crds/*.yaml`` and
``package/deploy/*.yaml.gotmpl``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, Iterable, List, Mapping

import yaml

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReferenceError,
    parse_image_reference,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixMatcher,
)

PACKAGE_ROOT = "package/"
MANIFEST_PATH = PACKAGE_ROOT + "manifest.yaml"
LOCK_PATH = PACKAGE_ROOT + "manifest.lock.yaml"
CRD_DIRECTORY = PACKAGE_ROOT + "crds/"
DEPLOY_DIRECTORY = PACKAGE_ROOT + "deploy/"
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".yaml.gotmpl", ".yml.gotmpl")


class BootstrapError(Exception):
    """A bootstrap Job or package that the bootstrap cannot work with."""


@dataclasses.dataclass
class Package:
    """The parts of a package image that the bootstrap uses."""

    manifest: dict
    lock_images: List[dict]
    crds: List[dict]
    templates: Dict[str, str]


def yaml_documents(path: str, data: bytes) -> List[dict]:
    """Return the non-empty YAML documents of a file, or raise BootstrapError."""
    try:
        return [doc for doc in yaml.safe_load_all(data.decode("utf-8")) if doc]
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise BootstrapError(
            "package file %s is not valid YAML: %s" % (path, error)
        ) from error


def read_package(files: Mapping[str, bytes], reference: str) -> Package:
    """Read manifest, lock file, CRDs and deploy templates from a pulled package."""
    if MANIFEST_PATH not in files:
        raise BootstrapError(
            "package image %s has no %s, so it is not a Package Operator package"
            % (reference, MANIFEST_PATH)
        )
    manifests = yaml_documents(MANIFEST_PATH, files[MANIFEST_PATH])
    if len(manifests) != 1 or manifests[0].get("kind") != "PackageManifest":
        raise BootstrapError(
            "%s in %s must be exactly one PackageManifest" % (MANIFEST_PATH, reference)
        )

    lock_images: List[dict] = []
    if LOCK_PATH in files:
        lock_images = _lock_images(files[LOCK_PATH], reference)

    crds: List[dict] = []
    templates: Dict[str, str] = {}
    for path in sorted(files):
        if path.startswith(CRD_DIRECTORY) and path.endswith((".yaml", ".yml")):
            crds += _crds(path, files[path], reference)
        elif path.startswith(DEPLOY_DIRECTORY) and path.endswith(TEMPLATE_SUFFIXES):
            templates[path] = files[path].decode("utf-8")
    return Package(manifests[0], lock_images, crds, templates)


def _lock_images(data: bytes, reference: str) -> List[dict]:
    locks = yaml_documents(LOCK_PATH, data)
    if len(locks) != 1 or locks[0].get("kind") != "PackageManifestLock":
        raise BootstrapError(
            "%s in %s must be exactly one PackageManifestLock" % (LOCK_PATH, reference)
        )
    images = list((locks[0].get("spec") or {}).get("images") or [])
    for entry in images:
        if not all(
            isinstance(entry.get(key), str) for key in ("name", "image", "digest")
        ):
            raise BootstrapError(
                "lock entry %r in %s of %s needs the string fields name, image and "
                "digest" % (entry, LOCK_PATH, reference)
            )
    return images


def _crds(path: str, data: bytes, reference: str) -> List[dict]:
    documents = yaml_documents(path, data)
    for document in documents:
        if document.get("kind") != "CustomResourceDefinition":
            raise BootstrapError(
                "%s in %s contains a %s, but only CustomResourceDefinitions belong "
                "in %s" % (path, reference, document.get("kind"), CRD_DIRECTORY)
            )
    return documents


_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_IMAGE_FIELD = re.compile(r"^\s*\.images\.([A-Za-z0-9_-]+)\s*$")
_IMAGE_INDEX = re.compile(r'^\s*index\s+\.images\s+"([^"]+)"\s*$')


def render_template(path: str, text: str, images: Mapping[str, str]) -> str:
    """Fill ``{{.images.NAME}}`` and ``{{index .images "NAME"}}`` in a template.

    Package Operator renders deploy templates with Go's text/template and a
    larger context. The test packages use only these two actions, so any
    other action raises BootstrapError naming it instead of rendering it
    wrongly.
    """

    def substitute(found: "re.Match[str]") -> str:
        action = found.group(1)
        match = _IMAGE_FIELD.match(action) or _IMAGE_INDEX.match(action)
        if match is None:
            raise BootstrapError(
                "template %s uses {{%s}}, but the test controller renders only "
                '{{.images.NAME}} and {{index .images "NAME"}}' % (path, action)
            )
        name = match.group(1)
        if name not in images:
            raise BootstrapError(
                "template %s uses image %r, which the package lock file does not "
                "list (listed: %s)" % (path, name, ", ".join(sorted(images)) or "none")
            )
        return images[name]

    return _ACTION.sub(substitute, text)


def pinned_lock_images(
    lock_images: Iterable[dict], matcher: PrefixMatcher
) -> Dict[str, str]:
    """Return ``{lock name: rewritten repository@digest}`` as Package Operator pins them.

    The prefix override applies to the lock file's reference first. Then the
    tag is dropped and the lock file's digest appended.
    """
    pinned = {}
    for entry in lock_images:
        rewritten = matcher.rewrite(entry["image"])
        try:
            pinned[entry["name"]] = parse_image_reference(rewritten).with_digest(
                entry["digest"]
            )
        except ImageReferenceError as error:
            raise BootstrapError(
                "lock image %r, rewritten to %r, is invalid: %s"
                % (entry["image"], rewritten, error)
            ) from error
    return pinned
