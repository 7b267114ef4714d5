#!/usr/bin/python
# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: image_mirror
short_description: Mirror container images into a private registry with skopeo
version_added: 1.0.0
description:
  - Copy container images from their source registry to a mirror registry with
    C(skopeo copy --all --preserve-digests), so that multi-arch images keep every
    platform and the index digest that Package Operator (PKO) lock files pin.
  - Before copying, compares the manifest digest on both sides, and copies only
    images that are missing or different at the destination. A second run on an
    unchanged mirror copies nothing and reports no change, and a run that stopped
    half-way copies only what is left when it runs again.
  - The digest checks are C(HEAD) and C(GET) requests to the registry HTTP API v2
    from the module itself, with the TLS settings, certificates and credentials
    that skopeo would use. A registry named in a registries.conf file, a
    credential helper or identity token in an auth file, a proxy from the
    environment, and every response other than a manifest or HTTP 404 make that
    check run C(skopeo inspect --raw) instead. RV(manifest_checks) counts both.
  - After each copy, checks that the destination digest equals the source digest
    checked before the copy (the index digest for multi-arch images). A mismatch,
    for example because the source tag moved during the copy, fails that image and
    is not retried.
  - Retries transient errors (connection refused or reset, timeouts, HTTP 5xx and
    429) with exponential backoff. Authentication errors, missing images and digest
    mismatches fail at once.
  - When some images fail, finishes every other image first, then fails with a
    message that names each failed image and the reason. RV(images) still lists
    every image.
  - With O(package_closure), reads C(package/manifest.lock.yaml) from PKO package
    images and adds every image and dependency package that the lock file pins, by
    digest.
options:
  images:
    description:
      - The images to mirror.
      - A string is a source reference. Its destination is the source rewritten by
        O(overrides), the way PKO rewrites it, so a string that no rule matches is
        an error.
      - A mapping has the keys C(src), optional C(dest), and optional C(package).
        Without C(dest), the destination comes from O(overrides). C(package=false)
        keeps O(package_closure) from opening that image.
      - A reference with tag and digest (C(name:tag@sha256:...)) is copied by digest,
        and the destination gets the tag.
    type: list
    elements: raw
    required: true
  overrides:
    description:
      - Prefix override rules that give the destination of each image, as PKO's
        C(from=to,from=to) string or as a list of mappings with C(from) and C(to).
      - Use the same rules as C(PKO_IMAGE_PREFIX_OVERRIDES) on the cluster, so that
        the mirror contains the images where PKO will look for them.
      - Malformed rules are rejected with an error that names the entry.
    type: raw
  parallel:
    description:
      - Maximum number of images mirrored at the same time.
    type: int
    default: 4
  retries:
    description:
      - How many times to retry a skopeo command after a transient error.
      - C(0) disables retries.
    type: int
    default: 3
  retry_delay:
    description:
      - Seconds to wait before the first retry. Each further retry waits twice as
        long as the one before.
    type: float
    default: 2.0
  command_timeout:
    description:
      - Seconds after which one skopeo command is stopped. A timeout counts as a
        transient error.
    type: float
    default: 600
  src_tls_verify:
    description:
      - Require HTTPS and verify certificates of the source registry.
      - Set to V(false) only for a plain HTTP or self-signed registry that you trust.
    type: bool
    default: true
  dest_tls_verify:
    description:
      - Require HTTPS and verify certificates of the destination registry.
    type: bool
    default: true
  src_cert_dir:
    description:
      - Directory with C(*.crt) CA certificates (and optional C(*.cert)/C(*.key)
        client certificates) for the source registry.
    type: path
  dest_cert_dir:
    description:
      - Directory with C(*.crt) CA certificates (and optional C(*.cert)/C(*.key)
        client certificates) for the destination registry.
    type: path
  src_username:
    description:
      - Username for the source registry. Requires O(src_password).
    type: str
  src_password:
    description:
      - Password for the source registry. Requires O(src_username).
    type: str
  dest_username:
    description:
      - Username for the destination registry. Requires O(dest_password).
    type: str
  dest_password:
    description:
      - Password for the destination registry. Requires O(dest_username).
    type: str
  authfile:
    description:
      - Path of a containers-auth.json(5) file used for both registries, as written
        by C(skopeo login) or C(podman login).
      - O(src_username) and O(dest_username) take precedence for their side.
    type: path
  registries_conf:
    description:
      - Path of a containers-registries.conf(5) file for skopeo, for example one
        that redirects pulls of C(quay.io/package-operator) to another location.
      - Redirects apply to reading the source only.
      - Digests of images on a registry that this file, or a drop-in file in
        C(registries.conf.d), names are checked with skopeo, which applies the
        file. Without this option the same holds for skopeo's default files.
    type: path
  executable:
    description:
      - Path or name of the skopeo binary. By default C(skopeo) is looked up on
        C(PATH).
    type: str
  package_closure:
    description:
      - Open each listed image that is not marked C(package=false), and when it is a
        PKO package image (it contains C(package/manifest.lock.yaml)), add every
        image in the lock file's C(spec.images) and every package in
        C(spec.dependencies) to the images to mirror, pinned by digest with their tag.
      - One platform of each opened image is pulled with skopeo into a temporary OCI
        layout, so listing large workload images here costs a download each.
      - Added images get their destination from O(overrides), which must match them.
    type: bool
    default: false
  recursive:
    description:
      - With O(package_closure), also open dependency packages and add what their
        lock files pin, at any depth.
    type: bool
    default: false
  pin_digest:
    description:
      - Also return each destination as C(repository@sha256:...) in
        RV(images[].dest_pinned).
    type: bool
    default: false
  report:
    description:
      - Path of a JSON file to write the result to, replacing the file atomically.
      - Written at the end of every run, also in check mode and when images failed.
      - The directory must exist.
    type: path
  progress_file:
    description:
      - Path of a file to append one line to for each finished image, retry and
        start and end of the run, while the task runs.
      - Follow a long mirror with C(tail -f) on this file. The same lines go to the
        system log of the target host (syslog or the journal), which also gets a
        line with the number of manifest checks per path.
      - Written also in check mode.
    type: path
attributes:
  check_mode:
    support: full
    description:
      - Compares digests and reads package lock files, copies nothing, and marks each
        image that would be copied with action C(would_copy).
  diff_mode:
    support: none
    description:
      - The module writes images to a registry, not files, so it has no diff.
  idempotent:
    support: full
    description:
      - A second run on an unchanged mirror copies nothing and reports no change.
requirements:
  - skopeo 1.9 or later on the host that runs the module.
  - PyYAML, for O(package_closure).
notes:
  - A source reference pinned by digest is not inspected at the source; the
    digest check uses the pinned digest.
  - The registry API checks read the same auth files as skopeo 1.9 (O(authfile)
    or C($REGISTRY_AUTH_FILE) or C($XDG_RUNTIME_DIR/containers/auth.json), then
    C(~/.config/containers/auth.json), C(~/.docker/config.json) and
    C(~/.dockercfg)), and the same certificate directories (O(src_cert_dir),
    O(dest_cert_dir), or C(/etc/containers/certs.d/HOST:PORT) and
    C(/etc/docker/certs.d/HOST:PORT)). With O(src_tls_verify) or
    O(dest_tls_verify) off they try HTTPS without verification first and plain
    HTTP after, as skopeo does.
  - The destination of a C(name:tag@digest) source keeps the tag, so a tag that
    already exists at the destination is moved to the mirrored digest.
  - Credentials reach skopeo as C(--src-creds)/C(--dest-creds) arguments, which other
    local users can read in the process list while skopeo runs. Use O(authfile)
    where that matters. Passwords never appear in the result, messages, the report
    or the progress file.
  - RV(images[].bytes) is the size that the source manifests declare, including
    blobs that the destination already had, not the bytes sent.
seealso:
  - name: skopeo-copy(1)
    description: The command that copies each image.
    link: https://github.com/containers/skopeo/blob/main/docs/skopeo-copy.1.md
  - module: pko.airgap.manifest_prefix_override
author:
  - pko.airgap authors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Mirror a Package Operator release and everything its lock file pins
  pko.airgap.image_mirror:
    images:
      - quay.io/package-operator/package-operator-package:v1.18.2
    overrides: quay.io/package-operator/=mirror.example.com:5000/pko/
    package_closure: true
    dest_username: mirror-bot
    dest_password: "{{ mirror_password }}"
    report: /var/tmp/pko-mirror-report.json
  register: mirrored

- name: Copy explicit pairs into a registry with a private CA, one at a time
  pko.airgap.image_mirror:
    images:
      - src: quay.io/package-operator/package-operator-manager:v1.18.2
        dest: registry.internal:5000/pko/package-operator-manager:v1.18.2
    dest_cert_dir: /etc/pki/registry-internal
    parallel: 1
    retries: 5

- name: Show what would be copied, and follow progress with tail -f
  pko.airgap.image_mirror:
    images: "{{ pko_images }}"
    overrides: "{{ pko_overrides }}"
    progress_file: /var/tmp/pko-mirror.log
  check_mode: true
"""

RETURN = r"""
images:
  description: One entry per image, listed images first, then those from lock files.
  returned: always
  type: list
  elements: dict
  contains:
    src:
      description: Source reference as given or as the lock file pins it.
      type: str
      sample: quay.io/package-operator/package-operator-package:v1.18.2
    dest:
      description: Destination reference.
      type: str
      sample: mirror.example.com:5000/pko/package-operator-package:v1.18.2
    origin:
      description: C(listed), or the lock file or dependency that added the image.
      type: str
      sample: lock of quay.io/package-operator/package-operator-package:v1.18.2
    action:
      description: C(copied), C(skipped) (the destination had the digest),
        C(failed), or in check mode C(would_copy).
      type: str
      sample: copied
    digest:
      description: Source manifest digest; the index digest for multi-arch images.
        Null when the source could not be read.
      type: str
      sample: sha256:35076feb23df1fb3622e98aea9024a0987bb7042ff982f2df4a842462589a6fa
    bytes:
      description: Size the source manifests declare for a copied or would-copy
        image (manifests, configs, layers); 0 when skipped; null when unknown.
      type: int
      sample: 2107392
    seconds:
      description: Wall time spent on this image, including retries.
      type: float
      sample: 1.42
    attempts:
      description: Number of manifest checks, copies and verifications tried for
        the image, retries included.
      type: int
      sample: 3
    error:
      description: Why the image failed, or null.
      type: str
      sample: "skopeo copy failed (rc=1): ... unauthorized: authentication required"
    error_kind:
      description: C(not_found), C(unauthorized), C(transient), C(tls),
        C(digest_mismatch), C(executable) or C(other); null when not failed.
      type: str
      sample: unauthorized
    cmd:
      description: The failed skopeo command with passwords masked, or null.
      type: list
      elements: str
    rc:
      description: Exit status of the failed skopeo command, or null.
      type: int
    stderr:
      description: Error output of the failed skopeo command, passwords masked, or null.
      type: str
    dest_pinned:
      description: Destination as C(repository@digest). Only with O(pin_digest);
        null for failed images.
      type: str
      sample: mirror.example.com:5000/pko/package-operator-package@sha256:35076feb23df1fb3622e98aea9024a0987bb7042ff982f2df4a842462589a6fa
counts:
  description:
    - Number of images per action. Top-level C(skipped) and C(failed) keys would
      set the task status in Ansible, so the counts live in this mapping.
  returned: always
  type: dict
  contains:
    copied:
      description: Images copied.
      type: int
    skipped:
      description: Images whose digest the destination already had.
      type: int
    failed:
      description: Images that failed.
      type: int
    would_copy:
      description: Images that check mode would copy.
      type: int
  sample: {copied: 3, skipped: 0, failed: 0, would_copy: 0}
closure_errors:
  description: Package images whose lock file could not be read or whose pinned
    images match no override, with the reason.
  returned: always
  type: list
  elements: dict
  sample: []
summary_lines:
  description: A readable table, one line per image and a total line.
  returned: always
  type: list
  elements: str
  sample:
    - "copied     sha256:35076feb23df  10.4 KiB    1.7s  quay.io/pko/a:v1 -> mirror/pko/a:v1"
    - "total: 1 images, 1 copied, 0 skipped, 0 failed in 1.9s"
env_value:
  description: O(overrides) as the C(PKO_IMAGE_PREFIX_OVERRIDES) string for the cluster.
  returned: always
  type: str
  sample: quay.io/package-operator/=mirror.example.com:5000/pko/
manifest_checks:
  description:
    - How the digest checks of the run were done, as C(registry_api) and C(skopeo)
      counts, and in C(skopeo_reasons) why skopeo was used, with a count each.
  returned: unless the input was invalid
  type: dict
  sample:
    registry_api: 10
    skopeo: 2
    skopeo_reasons:
      registries.conf configures quay.io: 2
seconds:
  description: Wall time of the whole run.
  returned: always
  type: float
  sample: 4.2
check_mode:
  description: Whether the run was in check mode, so that a report file says if it only predicted copies.
  returned: unless the input was invalid
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pko.airgap.plugins.module_utils.mirror_task import (
    run_mirror_task,
)


def main():
    side_options = {}
    for side in ("src", "dest"):
        side_options.update(
            {
                "%s_tls_verify" % side: {"type": "bool", "default": True},
                "%s_cert_dir" % side: {"type": "path"},
                "%s_username" % side: {"type": "str"},
                "%s_password" % side: {"type": "str", "no_log": True},
            }
        )

    module = AnsibleModule(
        argument_spec=dict(
            images={"type": "list", "elements": "raw", "required": True},
            overrides={"type": "raw"},
            parallel={"type": "int", "default": 4},
            retries={"type": "int", "default": 3},
            retry_delay={"type": "float", "default": 2.0},
            command_timeout={"type": "float", "default": 600},
            authfile={"type": "path"},
            registries_conf={"type": "path"},
            executable={"type": "str"},
            package_closure={"type": "bool", "default": False},
            recursive={"type": "bool", "default": False},
            pin_digest={"type": "bool", "default": False},
            report={"type": "path"},
            progress_file={"type": "path"},
            **side_options,
        ),
        required_together=[
            ("src_username", "src_password"),
            ("dest_username", "dest_password"),
        ],
        supports_check_mode=True,
    )

    result, failure = run_mirror_task(module.params, module.check_mode, log=module.log)
    if failure is not None:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
