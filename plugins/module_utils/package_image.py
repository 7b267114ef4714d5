# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read Package Operator package images: files from an OCI layout, and lock files.

A Package Operator (PKO) package image is an OCI image whose files live under
``package/`` in its layers. ``package/manifest.lock.yaml`` is a
PackageManifestLock that pins every workload image by digest in
``spec.images: [{name, image, digest}]`` and every dependency package in
``spec.dependencies: [{name, image, digest, version}]``. For multi-arch
images the digests are index digests. This module has no Ansible import.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

try:
    import yaml
except ImportError:  # PyYAML is needed only to read lock files.
    yaml = None

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReferenceError,
    parse_image_reference,
)

LOCK_PATH = "package/manifest.lock.yaml"
MANIFEST_PATH = "package/manifest.yaml"
LOCK_API_VERSION = "manifests.package-operator.run/v1alpha1"
LOCK_KIND = "PackageManifestLock"

INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
GZIP_LAYER_SUFFIXES = ("tar+gzip", "tar.gzip", "diff.tar.gzip")
PLAIN_LAYER_SUFFIXES = ("tar", "diff.tar")
# Files in a later layer whose name starts with this hide the named file of
# an earlier layer (OCI image spec, "Whiteouts").
WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"


class PackageImageError(ValueError):
    """A package image or lock file that cannot be read."""


@dataclass(frozen=True)
class LockedImage:
    """One ``spec.images`` entry of a lock file."""

    name: str
    image: str
    digest: str

    @property
    def reference(self) -> str:
        """Return ``image`` pinned to ``digest``, keeping its tag (``name:tag@digest``)."""
        return pin_reference(self.image, self.digest)


@dataclass(frozen=True)
class LockedDependency:
    """One ``spec.dependencies`` entry of a lock file: another package image."""

    name: str
    image: str
    digest: str
    version: str

    @property
    def reference(self) -> str:
        return pin_reference(self.image, self.digest)


@dataclass(frozen=True)
class PackageLock:
    """The images and dependencies that a PackageManifestLock pins."""

    images: List[LockedImage]
    dependencies: List[LockedDependency]


def pin_reference(image: str, digest: str) -> str:
    """Return ``image`` with ``@digest``; an image already pinned must carry the same digest."""
    parsed = parse_image_reference(image)
    if parsed.digest is not None:
        if parsed.digest != digest:
            raise PackageImageError(
                "lock entry image %r is pinned to %s but its digest field is %s. "
                "Rebuild the package so that both agree."
                % (image, parsed.digest, digest)
            )
        return image
    return "%s@%s" % (image, digest)


def parse_lock(data: bytes, origin: str) -> PackageLock:
    """Parse a PackageManifestLock document; ``origin`` names the image in errors."""
    if yaml is None:
        raise PackageImageError(
            "reading %s from %s needs the Python package PyYAML on the host that "
            "runs the module. Install it (pip install PyYAML)." % (LOCK_PATH, origin)
        )
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise PackageImageError(
            "%s in %s is not valid YAML: %s" % (LOCK_PATH, origin, exc)
        ) from None
    if not isinstance(document, dict) or document.get("kind") != LOCK_KIND:
        raise PackageImageError(
            "%s in %s is not a %s document (kind %r). Check that the image is a "
            "Package Operator package built with a lock file."
            % (
                LOCK_PATH,
                origin,
                LOCK_KIND,
                document.get("kind") if isinstance(document, dict) else None,
            )
        )
    spec = document.get("spec") or {}
    if not isinstance(spec, dict):
        raise PackageImageError(
            "%s in %s has a spec that is not a mapping" % (LOCK_PATH, origin)
        )

    images = [
        LockedImage(
            **_entry(origin, "images", index, entry, ("name", "image", "digest"))
        )
        for index, entry in enumerate(_list(spec, "images", origin))
    ]
    dependencies = [
        LockedDependency(
            **_entry(
                origin,
                "dependencies",
                index,
                entry,
                ("name", "image", "digest", "version"),
            )
        )
        for index, entry in enumerate(_list(spec, "dependencies", origin))
    ]
    return PackageLock(images, dependencies)


def _list(spec: dict, key: str, origin: str) -> list:
    value = spec.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PackageImageError(
            "%s in %s: spec.%s must be a list, got %s"
            % (LOCK_PATH, origin, key, type(value).__name__)
        )
    return value


def _entry(
    origin: str, key: str, index: int, entry: object, fields: Sequence[str]
) -> Dict[str, str]:
    where = "%s in %s: spec.%s[%d]" % (LOCK_PATH, origin, key, index)
    if not isinstance(entry, dict):
        raise PackageImageError("%s must be a mapping, got %r" % (where, entry))
    values = {}
    for field_name in fields:
        value = entry.get(field_name)
        if not isinstance(value, str) or not value:
            raise PackageImageError(
                "%s has no %r string (got %r)" % (where, field_name, value)
            )
        values[field_name] = value
    try:
        parse_image_reference(values["image"])
        parse_image_reference("example.invalid/x@" + values["digest"])
    except ImageReferenceError as exc:
        raise PackageImageError("%s: %s" % (where, exc)) from None
    return values


def choose_platform_manifest(raw: bytes) -> Optional[str]:
    """Return the digest of one platform manifest of an index, or None for a manifest.

    Package contents are the same on every platform, so any platform would do.
    linux/amd64 is preferred only to make the choice predictable.
    """
    try:
        document = json.loads(raw)
    except ValueError:
        raise PackageImageError("the image manifest is not valid JSON") from None
    manifests = document.get("manifests") if isinstance(document, dict) else None
    if not isinstance(manifests, list):
        return None
    if not manifests:
        raise PackageImageError("the image index lists no manifests")
    for entry in manifests:
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return entry["digest"]
    return manifests[0]["digest"]


def _read_json(path: str) -> dict:
    with open(path, "rb") as handle:
        return json.load(handle)


def _blob_path(layout_dir: str, digest: str) -> str:
    algorithm, separator, encoded = digest.partition(":")
    return os.path.join(layout_dir, "blobs", algorithm, encoded)


def read_layout_files(
    layout_dir: str, requested: Iterable[str], tag: Optional[str] = None
) -> Dict[str, bytes]:
    """Return the contents of the ``requested`` paths in a single-image OCI layout.

    Layers apply in order, so a later layer overrides an earlier one and a
    whiteout removes the file. Paths are relative, without a leading ``/``.
    Only tar and gzip tar layers are supported. Missing paths are left out.
    """
    requested_paths = {path.lstrip("/") for path in requested}
    index = _read_json(os.path.join(layout_dir, "index.json"))
    entries = index.get("manifests") or []
    if tag is not None:
        entries = [
            entry
            for entry in entries
            if (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name")
            == tag
        ]
    if len(entries) != 1:
        raise PackageImageError(
            "OCI layout %s has %d images%s, expected exactly one"
            % (layout_dir, len(entries), "" if tag is None else " tagged %r" % tag)
        )
    manifest = _read_json(_blob_path(layout_dir, entries[0]["digest"]))
    if manifest.get("mediaType") in INDEX_MEDIA_TYPES or "manifests" in manifest:
        manifest = _read_json(
            _blob_path(layout_dir, manifest["manifests"][0]["digest"])
        )

    found: Dict[str, bytes] = {}
    for layer in manifest.get("layers") or []:
        _apply_layer(
            _blob_path(layout_dir, layer["digest"]), layer, requested_paths, found
        )
    return found


def _apply_layer(
    path: str, layer: dict, requested: set, found: Dict[str, bytes]
) -> None:
    media_type = layer.get("mediaType", "")
    with open(path, "rb") as handle:
        data = handle.read()
    if media_type.endswith(GZIP_LAYER_SUFFIXES) or data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    elif not media_type.endswith(PLAIN_LAYER_SUFFIXES):
        raise PackageImageError(
            "layer %s has media type %r, which this collection cannot unpack. "
            "Only tar and gzip tar layers are supported."
            % (layer.get("digest"), media_type)
        )

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive.getmembers():
            name = member.name
            while name.startswith("./"):
                name = name[2:]
            name = name.lstrip("/")
            directory, separator, base = name.rpartition("/")
            if base == OPAQUE_WHITEOUT:
                prefix = directory + "/" if directory else ""
                for key in [key for key in found if key.startswith(prefix)]:
                    del found[key]
                continue
            if base.startswith(WHITEOUT_PREFIX):
                hidden = (directory + "/" if directory else "") + base[
                    len(WHITEOUT_PREFIX) :
                ]
                found.pop(hidden, None)
                continue
            if name in requested and member.isfile():
                extracted = archive.extractfile(member)
                if extracted is not None:
                    found[name] = extracted.read()
