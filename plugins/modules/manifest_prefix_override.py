#!/usr/bin/python
# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: manifest_prefix_override
short_description: Apply image prefix overrides to a Kubernetes manifest in place
version_added: 1.0.0
description:
  - Rewrite the image references in a multi-document YAML manifest with Package
    Operator (PKO) image prefix overrides, and set the overrides in the env var that
    PKO reads. The typical input is PKO's C(self-bootstrap-job.yaml).
  - Rewrites container, initContainer and ephemeralContainer C(image) fields in pod
    specs found anywhere in the documents, including custom resources' pod templates,
    objects embedded in ObjectSet and ObjectDeployment phases, and C(kind=List) items.
  - Rewrites references in container C(args) and C(command) written as
    C(-flag=<ref>), C(--flag=<ref>) or a bare C(<ref>), and the C(.spec.image) of PKO
    Package and ClusterPackage objects.
  - Sets O(env_name) to the override string in every container that declares it.
  - The output differs from the input only in the values that change. Comments, key
    order, quoting style, indentation and document separators are kept, so a diff shows
    only the rewritten lines.
  - References that already start with some rule's C(to) are left alone, so running
    the module on its own output changes nothing, also when a C(to) extends its C(from).
  - Prints warnings for rules that are valid but probably wrong, for example a C(from)
    without a trailing C(/) that matches a sibling repository, or a reference that a
    rule matches only in its fully qualified Docker Hub form, which PKO will not
    redirect at runtime.
options:
  src:
    description:
      - Path of the manifest to read, in UTF-8.
      - Exactly one of O(src) and O(content) is required.
    type: path
  content:
    description:
      - The manifest text to rewrite, as an alternative to O(src).
      - The result then carries the rewritten text in RV(content).
    type: str
  dest:
    description:
      - Path to write the rewritten manifest to.
      - Defaults to O(src), which is then rewritten in place. Without O(dest), a
        manifest given as O(content) is not written to any file.
      - The directory must exist. The file is written through a temporary file in the
        same directory and renamed over O(dest), keeping its mode and owner.
    type: path
  overrides:
    description:
      - The rules, either as PKO's C(from=to,from=to) string or as a list of mappings
        with the keys C(from) and C(to).
      - Malformed rules are rejected with an error that names the entry, where PKO
        would drop them or never match them.
      - An empty string or list sets O(env_name) to an empty string and rewrites no
        image.
    type: raw
    required: true
  env_name:
    description:
      - Name of the env var that receives the override string.
      - When the rules are not empty, at least one container must declare it,
        with a C(value) or with only a C(name). Otherwise the module fails.
      - Set it to an empty string to rewrite only the images, for manifests that do
        not run PKO, such as a ClusterPackage for a PKO that is already running.
    type: str
    default: PKO_IMAGE_PREFIX_OVERRIDES
  backup:
    description:
      - Create a backup file with a timestamp in its name before overwriting O(dest).
    type: bool
    default: false
  boundary:
    description:
      - Accept a C(from) only where it ends on a path boundary, that is where it ends
        with, or is followed by, C(/), C(:), C(@) or the end of the reference.
      - PKO does not check boundaries when it applies the overrides at runtime.
    type: bool
    default: false
  normalize:
    description:
      - Match rules against the fully qualified reference, so that C(nginx:1) matches a
        C(docker.io/library/) rule.
      - In C(args), C(command) and env values, only references that name a registry
        are normalized, because words such as C(sleep) would otherwise count as
        Docker Hub images.
      - PKO does not normalize when it applies the overrides at runtime.
    type: bool
    default: false
  rewrite_env_values:
    description:
      - Also rewrite env values that are image references matched by a rule.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Computes the rewrite and the diff, and writes nothing.
  diff_mode:
    support: full
    description: Shows the manifest text before and after.
  idempotent:
    support: full
    description: A second run on the output reports no change.
notes:
  - Every document must be a Kubernetes object with C(apiVersion) and C(kind); empty
    and comment-only documents are kept as they are.
  - A mapping with a duplicate key, an invalid image reference in an C(image) field,
    an env entry for O(env_name) that uses C(valueFrom), and wrong types in the pod
    specs of built-in workload kinds are errors. The error names the document, the
    object and the field, and no file is changed.
  - Image values that are empty or contain C(*), C(?), C([), C(]), C({), C(}), C($),
    C(!) or C(|) are treated as patterns or template placeholders and left alone.
  - Every rewritten manifest is parsed again and compared with the original before
    it is written, so that a value written in a style that does not read back the
    same fails instead of reaching the file.
  - Aliased nodes are rewritten once, at their anchor. RV(rewrites) lists the field
    paths where the walk reached them.
requirements:
  - PyYAML on the host that runs the module.
seealso:
  - plugin: pko.airgap.image_prefix_override
    plugin_type: filter
  - module: pko.airgap.override_coverage
author:
  - pko.airgap authors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Point the bootstrap Job at the mirror
  pko.airgap.manifest_prefix_override:
    src: /srv/pko/self-bootstrap-job.yaml
    overrides: quay.io/package-operator/=mirror.example.com:5000/pko/
    backup: true

- name: Rewrite a manifest held in a variable
  pko.airgap.manifest_prefix_override:
    content: "{{ lookup('ansible.builtin.file', 'self-bootstrap-job.yaml') }}"
    overrides:
      - from: quay.io/package-operator/
        to: mirror.example.com:5000/pko/
  register: rewritten

- name: Write the result elsewhere, matching only on path boundaries
  pko.airgap.manifest_prefix_override:
    src: manifests/bundle.yaml
    dest: build/bundle.yaml
    overrides: quay.io/=mirror.example.com/quay/,docker.io/=mirror.example.com/docker/
    boundary: true
    normalize: true
"""

RETURN = r"""
changed:
  description: Whether the manifest at O(dest) changed, or with O(content) alone, the text.
  returned: always
  type: bool
rewrites:
  description: Each changed field, in document order.
  returned: always
  type: list
  elements: dict
  contains:
    document:
      description: Position of the YAML document in the stream, counting from 1, comment-only documents included.
      type: int
    kind:
      description: Kind of the document's object.
      type: str
    namespace:
      description: Namespace of the document's object, or null.
      type: str
    name:
      description: Name of the document's object, or null.
      type: str
    path:
      description: Path of the field in the document.
      type: str
      sample: spec.template.spec.containers[0].image
    before:
      description: The old value, or null when the field was added or was not a string.
      type: str
    after:
      description: The new value.
      type: str
  sample:
    - document: 4
      kind: Job
      namespace: package-operator-system
      name: package-operator-bootstrap
      path: spec.template.spec.containers[0].image
      before: quay.io/package-operator/package-operator-manager:v1.18.2
      after: mirror.example.com:5000/pko/package-operator-manager:v1.18.2
env_value:
  description: The override string set in O(env_name).
  returned: always
  type: str
  sample: quay.io/package-operator/=mirror.example.com:5000/pko/
lint:
  description: The warnings about the rules, with a stable code each.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description: >-
        One of C(sibling-match), C(to-extends-from), C(rewrite-chain), C(shadowed-rule),
        C(redundant-rule), C(slash-mismatch), C(to-docker-hub), C(normalized-only)
        and C(never-matches-normalized).
      type: str
    message:
      description: What is wrong and how to fix it.
      type: str
dest:
  description: The file written, or null when O(content) was given without O(dest).
  returned: always
  type: str
content:
  description: The rewritten manifest text.
  returned: when O(content) is given
  type: str
backup_file:
  description: Path of the backup file.
  returned: when O(backup=true) and O(dest) was changed
  type: str
owner:
  description: Owner of O(dest), added by Ansible as for any module that returns a path.
  returned: when O(dest) exists
  type: str
  sample: root
group:
  description: Group of O(dest).
  returned: when O(dest) exists
  type: str
  sample: root
uid:
  description: Owner ID of O(dest).
  returned: when O(dest) exists
  type: int
  sample: 0
gid:
  description: Group ID of O(dest).
  returned: when O(dest) exists
  type: int
  sample: 0
mode:
  description: Permissions of O(dest), in octal.
  returned: when O(dest) exists
  type: str
  sample: "0644"
size:
  description: Size of O(dest) in bytes.
  returned: when O(dest) exists
  type: int
  sample: 2372
state:
  description: C(file) when O(dest) exists.
  returned: when O(dest) exists
  type: str
  sample: file
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pko.airgap.plugins.module_utils.lint_overrides import (
    lint_overrides,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_file import (
    check_destination,
    read_existing,
    read_manifest,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_rewrite import (
    rewrite_manifest,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_yaml import (
    ManifestError,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    ENV_NAME,
    PrefixOverrideError,
)

ARGUMENT_SPEC = dict(
    src=dict(type="path"),
    content=dict(type="str"),
    dest=dict(type="path"),
    overrides=dict(type="raw", required=True),
    env_name=dict(type="str", default=ENV_NAME),
    backup=dict(type="bool", default=False),
    boundary=dict(type="bool", default=False),
    normalize=dict(type="bool", default=False),
    rewrite_env_values=dict(type="bool", default=False),
)


def write_atomically(module, path, text):
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(
        dir=directory, prefix=".%s." % os.path.basename(path), suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode("utf-8"))
        module.atomic_move(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("src", "content")],
        required_one_of=[("src", "content")],
        supports_check_mode=True,
    )
    params = module.params
    dest = params["dest"] or params["src"]

    try:
        if params["src"] is not None:
            source, text = params["src"], read_manifest(params["src"])
        else:
            source, text = "content", params["content"]
        if dest is not None:
            check_destination(dest)
        result = rewrite_manifest(
            text,
            params["overrides"],
            source=source,
            env_name=params["env_name"],
            boundary=params["boundary"],
            normalize=params["normalize"],
            rewrite_env_values=params["rewrite_env_values"],
        )
        lint = lint_overrides(
            params["overrides"],
            result.references,
            params["boundary"],
            params["normalize"],
        )
        if dest is None or dest == params["src"]:
            before = text
        else:
            before = read_existing(dest)
    except (ManifestError, PrefixOverrideError) as error:
        module.fail_json(msg=str(error))

    for warning in lint:
        module.warn(warning.message)

    changed = before != result.text
    output = dict(
        changed=changed,
        rewrites=[rewrite.as_dict() for rewrite in result.rewrites],
        env_value=result.env_value,
        lint=[warning.as_dict() for warning in lint],
        dest=dest,
    )
    if params["content"] is not None:
        output["content"] = result.text
    if module._diff:
        output["diff"] = dict(
            before=before or "",
            after=result.text,
            before_header=dest or source,
            after_header=dest or source,
        )

    if changed and dest is not None and not module.check_mode:
        if params["backup"] and os.path.exists(dest):
            output["backup_file"] = module.backup_local(dest)
        write_atomically(module, dest, result.text)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
