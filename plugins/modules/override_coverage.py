#!/usr/bin/python
# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: override_coverage
short_description: Check that the mirror has every image a Package Operator bootstrap pulls
version_added: 1.0.0
description:
  - Before a bootstrap manifest is applied, check every image pull that the bootstrap
    causes against the image prefix overrides and the mirror registry, and fail when
    any of them would not be served by the mirror. The typical input is the
    self-bootstrap manifest after M(pko.airgap.manifest_prefix_override).
  - The kubelet pulls the bootstrap Job's container images exactly as written, because
    Package Operator (PKO) does not apply its overrides to them. Each must already name
    the mirror, that is start with some rule's C(to), and exist there.
  - PKO pulls the package image named in C(-self-bootstrap=), and the C(.spec.image) of
    any Package or ClusterPackage in the manifest, after applying the overrides to it
    as written. Each result must start with a rule's C(to) and exist in the mirror.
  - PKO deploys the images and dependency packages in the package's
    C(package/manifest.lock.yaml), each rewritten by the overrides and pinned by
    digest. The module reads the lock file from the mirror's copy of the package image
    and checks each C(<rewritten repository>@<digest>) in the mirror.
  - The check models PKO's runtime matching, a plain string prefix on the reference as
    written with the longest C(from) winning, so it does not offer the C(boundary) and
    C(normalize) options of M(pko.airgap.manifest_prefix_override).
  - Rules that match no pulled image are reported as warnings.
options:
  src:
    description:
      - Path of the bootstrap manifest to check, in UTF-8.
      - Exactly one of O(src) and O(content) is required.
    type: path
  content:
    description:
      - The manifest text, as an alternative to O(src).
    type: str
  overrides:
    description:
      - The rules, either as PKO's C(from=to,from=to) string or as a list of mappings
        with the keys C(from) and C(to).
      - PKO uses the override string that the manifest sets in O(env_name), so that value
        is checked. O(overrides) is required only when the manifest sets none, and
        must then equal it when both are given.
    type: raw
  env_name:
    description:
      - Name of the env var that carries the overrides in the manifest.
    type: str
    default: PKO_IMAGE_PREFIX_OVERRIDES
  dest_tls_verify:
    description:
      - Require HTTPS and verify certificates of the mirror registry.
      - Set to V(false) only for a plain HTTP or self-signed registry that you trust.
    type: bool
    default: true
  dest_cert_dir:
    description:
      - Directory with C(*.crt) CA certificates (and optional C(*.cert)/C(*.key) client
        certificates) for the mirror registry.
    type: path
  dest_username:
    description:
      - Username for the mirror registry. Requires O(dest_password).
    type: str
  dest_password:
    description:
      - Password for the mirror registry. Requires O(dest_username).
    type: str
  authfile:
    description:
      - Path of a containers-auth.json(5) file with credentials for the mirror
        registry, as written by C(skopeo login) or C(podman login).
      - O(dest_username) takes precedence.
    type: path
  registries_conf:
    description:
      - Path of a containers-registries.conf(5) file for skopeo.
    type: path
  executable:
    description:
      - Path or name of the skopeo binary. By default C(skopeo) is looked up on C(PATH).
    type: str
  command_timeout:
    description:
      - Seconds after which one skopeo command is stopped.
    type: float
    default: 600
attributes:
  check_mode:
    support: full
    description: The module only reads, so check mode runs the same checks.
  diff_mode:
    support: none
    description: The module writes nothing, so there is no diff to show.
  idempotent:
    support: full
    description: The module changes nothing and always reports C(changed=false).
notes:
  - Only references that start with a rule's C(to) are looked up, so a reference that
    no rule redirects is reported without contacting its registry.
  - One platform of the package image (linux/amd64 when the index has it) is pulled
    into a temporary directory to read its lock file. The lock file is the same on
    every platform.
requirements:
  - skopeo on the host that runs the module.
  - PyYAML on the host that runs the module.
seealso:
  - module: pko.airgap.manifest_prefix_override
  - module: pko.airgap.image_mirror
author:
  - pko.airgap authors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Stop before apply when the mirror lacks an image
  pko.airgap.override_coverage:
    src: /srv/pko/self-bootstrap-job.mirror.yaml
    dest_cert_dir: /etc/pki/mirror
    authfile: /root/.config/containers/auth.json

- name: Check a manifest whose PKO gets its overrides elsewhere
  pko.airgap.override_coverage:
    src: clusterpackage.yaml
    overrides: quay.io/package-operator/=mirror.example.com:5000/pko/
    dest_tls_verify: false
  register: coverage
"""

RETURN = r"""
images:
  description: Each image pull of the bootstrap, with its result.
  returned: always
  type: list
  elements: dict
  contains:
    origin:
      description: Where the reference comes from, such as the manifest field or the lock file entry.
      type: str
    puller:
      description: C(kubelet) for the Job's container images, C(pko) for what Package Operator pulls.
      type: str
    written:
      description: The reference as its source names it. Lock file entries show C(image@digest).
      type: str
    pulled:
      description: The reference that will be pulled, or null when no rule redirects it.
      type: str
    rule:
      description: The rule that redirects it, as C(from=to), or null.
      type: str
    status:
      description: >-
        C(covered), C(not_redirected), C(not_rewritten) (a Job image that the manifest
        still names at its original registry), C(missing) (not in the mirror) or
        C(unreadable) (an invalid lock file entry).
      type: str
    detail:
      description: What is wrong and how to fix it, empty when covered.
      type: str
uncovered:
  description: The entries of RV(images) whose status is not C(covered).
  returned: always
  type: list
  elements: dict
unused_rules:
  description: Rules that no pulled image matched.
  returned: always
  type: list
  elements: str
errors:
  description: Failed mirror lookups and lock file reads.
  returned: always
  type: list
  elements: str
overrides:
  description: The override string that was checked.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pko.airgap.plugins.module_utils.coverage_preflight import (
    PULLER_PKO,
    check_manifest_coverage,
    read_lock_images,
)
from ansible_collections.pko.airgap.plugins.module_utils.lint_overrides import (
    lint_overrides,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_file import (
    read_manifest,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_yaml import (
    ManifestError,
)
from ansible_collections.pko.airgap.plugins.module_utils.mirror_task import (
    registry_options,
)
from ansible_collections.pko.airgap.plugins.module_utils.package_image import (
    PackageImageError,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    ENV_NAME,
    PrefixOverrideError,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    SOURCE,
    Skopeo,
    SkopeoError,
)

ARGUMENT_SPEC = dict(
    src=dict(type="path"),
    content=dict(type="str"),
    overrides=dict(type="raw"),
    env_name=dict(type="str", default=ENV_NAME),
    dest_tls_verify=dict(type="bool", default=True),
    dest_cert_dir=dict(type="path"),
    dest_username=dict(type="str"),
    dest_password=dict(type="str", no_log=True),
    authfile=dict(type="path"),
    registries_conf=dict(type="path"),
    executable=dict(type="str"),
    command_timeout=dict(type="float", default=600),
)

# Registry and lock file failures go into the report. Any other exception is a
# bug and is not caught.
LOOKUP_ERRORS = (SkopeoError, PackageImageError, OSError)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("src", "content")],
        required_one_of=[("src", "content")],
        required_together=[("dest_username", "dest_password")],
        supports_check_mode=True,
    )
    params = module.params

    try:
        if params["src"] is not None:
            source, text = params["src"], read_manifest(params["src"])
        else:
            source, text = "content", params["content"]

        # Every lookup goes to the mirror, so its options serve as skopeo's
        # source side, which is the side that inspect and pull read from.
        mirror = registry_options(params, "dest")
        skopeo = Skopeo(
            executable=params["executable"],
            source=mirror,
            destination=mirror,
            authfile=params["authfile"],
            registries_conf=params["registries_conf"],
            timeout=params["command_timeout"],
        )
        report, rules = check_manifest_coverage(
            text,
            source,
            params["overrides"],
            exists=lambda reference: skopeo.inspect_digest(reference, SOURCE)
            is not None,
            lock_images=lambda reference: read_lock_images(skopeo, reference),
            env_name=params["env_name"],
            lookup_errors=LOOKUP_ERRORS,
        )
        references = [
            image.written for image in report.images if image.puller == PULLER_PKO
        ]
        lint = lint_overrides(rules, references)
    except (ManifestError, PrefixOverrideError, SkopeoError, ValueError) as error:
        module.fail_json(msg=str(error))

    for warning in lint:
        module.warn(warning.message)
    for rule in report.unused_rules:
        module.warn("rule %r matches no image that the bootstrap pulls." % rule)

    result = dict(
        changed=False,
        images=[image.as_dict() for image in report.images],
        uncovered=[image.as_dict() for image in report.uncovered],
        unused_rules=report.unused_rules,
        errors=report.errors,
        overrides=rules,
    )
    if not report.ok:
        module.fail_json(msg=report.failure_message(), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
