# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Seed a local registry that plays quay.io with Package Operator-like images.

A release is three multi-arch images under ``<registry>/package-operator/``:
``package-operator-manager``, ``remote-phase-manager`` and the package image
``package-operator-package``. The package image's layer contains
``package/manifest.yaml`` (PackageManifest), ``package/manifest.lock.yaml``
(PackageManifestLock with the index digests of the two pushed workload
images), the ClusterPackage CRD and the manager Deployment template, laid
out the way Package Operator reads a package. The lock file names the images
by their public ``quay.io/package-operator/...`` references, so a
containers-registries.conf(5) redirect (:func:`write_registries_conf`) lets
skopeo resolve them against the local registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import yaml

from .images import PushedImage, make_and_push_image

FIXTURE_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "fixtures",
    "pko-v1.18.2",
)
PUBLIC_PREFIX = "quay.io/package-operator"
NAMESPACE = "package-operator"
DEFAULT_VERSION = "v1.18.2"
PACKAGE_NAME = "package-operator"
PACKAGE_IMAGE = "package-operator-package"
WORKLOAD_IMAGES = ("package-operator-manager", "remote-phase-manager")
MANIFEST_API_VERSION = "manifests.package-operator.run/v1alpha1"
# The template placeholder that Package Operator fills with the locked image.
MANAGER_IMAGE_PLACEHOLDER = "{{.images.package-operator-manager}}"
FIXTURE_MANAGER_IMAGE = "image: registry.package-operator.run/static-image"


@dataclass
class SeededPackage:
    """A package image and the workload images its lock file pins.

    ``images`` maps the lock entry name to the pushed image. ``public_prefix``
    is the prefix that the lock file and manifest use in place of the local
    registry address.
    """

    name: str
    version: str
    public_prefix: str
    package: PushedImage
    images: Dict[str, PushedImage]
    lock: dict
    manifest: dict
    dependencies: List["SeededPackage"] = field(default_factory=list)

    @property
    def package_reference(self) -> str:
        """Public reference of the package image, e.g. ``quay.io/package-operator/...:v1.18.2``."""
        return public_reference(self.public_prefix, self.package.reference)

    def all_images(self) -> Dict[str, str]:
        """Return ``{local reference: index digest}`` for this package, recursively."""
        found = {self.package.reference: self.package.digest}
        for image in self.images.values():
            found[image.reference] = image.digest
        for dependency in self.dependencies:
            found.update(dependency.all_images())
        return found

    def public_images(self) -> Dict[str, str]:
        """Return ``{public reference: index digest}``, the references a mirror copies."""
        return {
            public_reference(self.public_prefix, local): digest
            for local, digest in self.all_images().items()
        }


def public_reference(public_prefix: str, local_reference: str) -> str:
    """Replace ``host/namespace`` of a local reference with ``public_prefix``."""
    repository_and_tag = local_reference.split("/", 2)[2]
    return "%s/%s" % (public_prefix, repository_and_tag)


def _manager_template() -> bytes:
    with open(
        os.path.join(FIXTURE_DIR, "package-operator-manager.deployment.yaml"), "rb"
    ) as handle:
        text = handle.read().decode("utf-8")
    if FIXTURE_MANAGER_IMAGE not in text:
        raise ValueError(
            "the fixture Deployment no longer contains %r, so the image placeholder "
            "cannot be inserted. Update FIXTURE_MANAGER_IMAGE." % FIXTURE_MANAGER_IMAGE
        )
    text = text.replace(
        FIXTURE_MANAGER_IMAGE, 'image: "%s"' % MANAGER_IMAGE_PLACEHOLDER
    )
    return text.encode("utf-8")


def _crd() -> bytes:
    with open(os.path.join(FIXTURE_DIR, "clusterpackages.crd.yaml"), "rb") as handle:
        return handle.read()


def _dump(document: dict) -> bytes:
    return yaml.safe_dump(document, sort_keys=False).encode("utf-8")


def build_lock(
    images: Mapping[str, str], dependencies: Sequence[Mapping[str, str]] = ()
) -> dict:
    """Return a PackageManifestLock document.

    ``images`` maps a lock name to ``(public reference, digest)`` pairs given
    as ``"reference@digest"`` strings. Each dependency is a mapping with
    ``name``, ``image``, ``digest`` and ``version``.
    """
    entries = []
    for name, pinned in images.items():
        reference, separator, digest = pinned.partition("@")
        entries.append({"name": name, "image": reference, "digest": digest})
    spec: dict = {"images": entries}
    if dependencies:
        spec["dependencies"] = [dict(dependency) for dependency in dependencies]
    return {
        "apiVersion": MANIFEST_API_VERSION,
        "kind": "PackageManifestLock",
        "metadata": {},
        "spec": spec,
    }


def build_manifest(
    name: str, images: Mapping[str, str], phases: Sequence[str], scopes: Sequence[str]
) -> dict:
    """Return a PackageManifest document listing ``images`` (name to tag reference)."""
    return {
        "apiVersion": MANIFEST_API_VERSION,
        "kind": "PackageManifest",
        "metadata": {"name": name},
        "spec": {
            "scopes": list(scopes),
            "phases": [{"name": phase} for phase in phases],
            "images": [{"name": key, "image": value} for key, value in images.items()],
        },
    }


def seed_package(
    registry_address: str,
    work_dir: str,
    package_image: str,
    package_name: str,
    version: str,
    image_names: Sequence[str],
    extra_files: Optional[Mapping[str, bytes]] = None,
    dependencies: Sequence[SeededPackage] = (),
    namespace: str = NAMESPACE,
    public_prefix: str = PUBLIC_PREFIX,
    phases: Sequence[str] = ("deploy",),
    scopes: Sequence[str] = ("Cluster",),
    layer_sizes: Sequence[int] = (4096,),
    seed: Optional[int] = None,
    **push_options: object,
) -> SeededPackage:
    """Push workload images, then a package image whose lock file pins them.

    Images go to ``<registry_address>/<namespace>/<name>:<version>``. With
    ``seed`` the workload layers are reproducible; each image gets its own
    seed derived from it. ``push_options`` go to :func:`push_oci_image`
    (``tls_verify``, ``cert_dir``, ``username``, ``password``, ``env``).
    """
    local_prefix = "%s/%s" % (registry_address, namespace)
    pushed: Dict[str, PushedImage] = {}
    for number, name in enumerate(image_names):
        pushed[name] = make_and_push_image(
            work_dir,
            "%s/%s:%s" % (local_prefix, name, version),
            layer_sizes=layer_sizes,
            seed=None if seed is None else seed * 1000 + number,
            labels={"pko-airgap.test/version": version},
            **push_options,
        )

    public_by_name = {
        name: public_reference(public_prefix, image.reference)
        for name, image in pushed.items()
    }
    lock = build_lock(
        {
            name: "%s@%s" % (public_by_name[name], image.digest)
            for name, image in pushed.items()
        },
        [
            {
                "name": dependency.name,
                "image": dependency.package_reference,
                "digest": dependency.package.digest,
                "version": dependency.version,
            }
            for dependency in dependencies
        ],
    )
    manifest = build_manifest(package_name, public_by_name, phases, scopes)

    files = {
        "package/manifest.yaml": _dump(manifest),
        "package/manifest.lock.yaml": _dump(lock),
    }
    files.update(extra_files or {})
    package = make_and_push_image(
        work_dir,
        "%s/%s:%s" % (local_prefix, package_image, version),
        layer_sizes=(),
        files=files,
        labels={"pko-airgap.test/version": version},
        **push_options,
    )
    return SeededPackage(
        name=package_name,
        version=version,
        public_prefix=public_prefix,
        package=package,
        images=pushed,
        lock=lock,
        manifest=manifest,
        dependencies=list(dependencies),
    )


def seed_pko_release(
    registry_address: str,
    work_dir: str,
    version: str = DEFAULT_VERSION,
    dependencies: Sequence[SeededPackage] = (),
    seed: Optional[int] = None,
    layer_sizes: Sequence[int] = (4096,),
    **push_options: object,
) -> SeededPackage:
    """Seed a Package Operator release named like the real one at ``version``.

    Pushes ``package-operator/package-operator-manager``,
    ``package-operator/remote-phase-manager`` and
    ``package-operator/package-operator-package``, all linux/amd64 and
    linux/arm64. ``dependencies`` become ``spec.dependencies`` entries of the
    lock file.
    """
    return seed_package(
        registry_address,
        work_dir,
        package_image=PACKAGE_IMAGE,
        package_name=PACKAGE_NAME,
        version=version,
        image_names=WORKLOAD_IMAGES,
        extra_files={
            "package/crds/clusterpackages.crd.yaml": _crd(),
            "package/deploy/package-operator-manager.yaml.gotmpl": _manager_template(),
        },
        dependencies=dependencies,
        phases=("crds", "deploy"),
        seed=seed,
        layer_sizes=layer_sizes,
        **push_options,
    )


def seed_dependency_package(
    registry_address: str,
    work_dir: str,
    name: str = "example-dependency",
    version: str = "v1.0.0",
    image_names: Sequence[str] = ("example-dependency-manager",),
    dependencies: Sequence[SeededPackage] = (),
    seed: Optional[int] = None,
    **push_options: object,
) -> SeededPackage:
    """Seed a small package (``<name>-package``) to list as a dependency."""
    return seed_package(
        registry_address,
        work_dir,
        package_image="%s-package" % name,
        package_name=name,
        version=version,
        image_names=image_names,
        dependencies=dependencies,
        seed=seed,
        **push_options,
    )


def write_registries_conf(
    path: str, redirects: Mapping[str, str], insecure: bool = True
) -> str:
    """Write a containers-registries.conf(5) file that redirects prefixes.

    ``redirects`` maps a public prefix (``quay.io/package-operator``) to a
    location (``127.0.0.1:PORT/package-operator``). ``insecure=True`` lets
    skopeo use plain HTTP for the location. The redirect applies to pulls
    only, so a mirror's destination is never redirected.
    """
    blocks = []
    for prefix, location in redirects.items():
        blocks.append(
            "[[registry]]\n"
            'prefix = "%s"\n'
            'location = "%s"\n'
            "insecure = %s\n" % (prefix, location, "true" if insecure else "false")
        )
    text = "# Generated for tests: pulls of these prefixes go to local registries.\n"
    text += "\n".join(blocks)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
