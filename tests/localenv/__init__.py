# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Local servers and generated images for tests and the demo.

``registry`` starts distribution registries on 127.0.0.1, ``images`` writes
and pushes OCI images, ``seed`` fills a registry with Package Operator-like
images, and ``pytest_registry`` wraps them as pytest fixtures. Everything
listens on loopback ports picked at run time.
"""

from .images import (
    PushedImage,
    isolated_skopeo_env,
    make_and_push_image,
    write_oci_image,
)
from .registry import Registry, RegistryError, free_port, start_registry
from .seed import (
    SeededPackage,
    seed_dependency_package,
    seed_pko_release,
    write_registries_conf,
)

__all__ = [
    "PushedImage",
    "Registry",
    "RegistryError",
    "SeededPackage",
    "free_port",
    "isolated_skopeo_env",
    "make_and_push_image",
    "seed_dependency_package",
    "seed_pko_release",
    "start_registry",
    "write_oci_image",
    "write_registries_conf",
]
