# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""pytest fixtures for local registries, seeded images and skopeo state.

Import them into a test folder's conftest.py::

    from localenv.pytest_registry import *  # noqa: F401,F403

``skopeo_env`` is autouse: it points every skopeo that the session starts
(directly, through the collection's module_utils, or from ansible-playbook)
at a temporary blob info cache, auth location and TMPDIR.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Iterator

import pytest

from .images import isolated_skopeo_env
from .registry import Registry, start_registry
from .seed import (
    DEFAULT_VERSION,
    NAMESPACE,
    PUBLIC_PREFIX,
    SeededPackage,
    seed_dependency_package,
    seed_pko_release,
    write_registries_conf,
)

__all__ = [
    "SeededSource",
    "auth_registry",
    "dependency_source",
    "mirror_registry",
    "registries_conf",
    "registry_dir",
    "seeded_source",
    "skopeo_env",
    "source_registry",
    "tls_registry",
]

UPGRADE_VERSION = "v1.18.3"
AUTH_USERNAME = "pko-test"


@dataclass
class SeededSource:
    """A source registry holding seeded releases, keyed by version."""

    registry: Registry
    releases: Dict[str, SeededPackage]
    registries_conf: str

    @property
    def release(self) -> SeededPackage:
        return self.releases[DEFAULT_VERSION]


@pytest.fixture(scope="session", autouse=True)
def skopeo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Set an isolated skopeo environment in os.environ for the whole session."""
    directory = str(tmp_path_factory.mktemp("skopeo-state"))
    isolated = isolated_skopeo_env(directory)
    saved = {name: os.environ.get(name) for name in isolated}
    os.environ.update(isolated)
    yield isolated
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def registry_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("registries"))


@pytest.fixture(scope="session")
def source_registry(registry_dir: str, skopeo_env: dict) -> Iterator[Registry]:
    """A plain-HTTP registry for the whole session, playing quay.io."""
    with start_registry(registry_dir, "source") as registry:
        yield registry


@pytest.fixture
def mirror_registry(tmp_path, skopeo_env: dict) -> Iterator[Registry]:
    """An empty plain-HTTP registry for one test."""
    with start_registry(str(tmp_path), "mirror") as registry:
        yield registry


@pytest.fixture(scope="session")
def auth_registry(registry_dir: str, skopeo_env: dict) -> Iterator[Registry]:
    """A plain-HTTP registry with basic auth; see ``.username``/``.password``."""
    with start_registry(registry_dir, "auth", username=AUTH_USERNAME) as registry:
        yield registry


@pytest.fixture(scope="session")
def tls_registry(registry_dir: str, skopeo_env: dict) -> Iterator[Registry]:
    """An HTTPS registry whose CA is ``.cert_dir``/ca.crt."""
    with start_registry(registry_dir, "tls", tls=True) as registry:
        yield registry


@pytest.fixture(scope="session")
def registries_conf(registry_dir: str, source_registry: Registry) -> str:
    """A registries.conf redirecting quay.io/package-operator to the source registry."""
    return write_registries_conf(
        os.path.join(registry_dir, "registries.conf"),
        {PUBLIC_PREFIX: "%s/%s" % (source_registry.address, NAMESPACE)},
    )


@pytest.fixture(scope="session")
def seeded_source(
    registry_dir: str, source_registry: Registry, registries_conf: str
) -> SeededSource:
    """The source registry with releases v1.18.2 and v1.18.3 pushed."""
    work_dir = os.path.join(registry_dir, "seed-work")
    releases = {
        version: seed_pko_release(
            source_registry.address, work_dir, version=version, tls_verify=False
        )
        for version in (DEFAULT_VERSION, UPGRADE_VERSION)
    }
    return SeededSource(source_registry, releases, registries_conf)


@pytest.fixture(scope="session")
def dependency_source(registry_dir: str, skopeo_env: dict) -> Iterator[SeededSource]:
    """A registry whose release depends on a package that has its own dependency.

    The chain is package-operator-package -> example-dependency-package ->
    nested-dependency-package, each with its own workload image, for closure
    recursion tests.
    """
    with start_registry(registry_dir, "dependency-source") as registry:
        work_dir = os.path.join(registry_dir, "dependency-seed-work")
        nested = seed_dependency_package(
            registry.address,
            work_dir,
            name="nested-dependency",
            version="v0.3.0",
            image_names=("nested-dependency-manager",),
            tls_verify=False,
        )
        dependency = seed_dependency_package(
            registry.address, work_dir, dependencies=[nested], tls_verify=False
        )
        release = seed_pko_release(
            registry.address, work_dir, dependencies=[dependency], tls_verify=False
        )
        conf = write_registries_conf(
            os.path.join(registry_dir, "dependency-registries.conf"),
            {PUBLIC_PREFIX: "%s/%s" % (registry.address, NAMESPACE)},
        )
        yield SeededSource(registry, {DEFAULT_VERSION: release}, conf)
