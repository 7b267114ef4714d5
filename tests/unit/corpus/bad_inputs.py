# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Malformed inputs for pko.airgap.manifest_prefix_override.

Each case is run through the module's main entry point. It must fail with
a message that contains every ``fragments`` entry (the offending value and
the fix), leave every file byte-identical, and raise no exception past the
module. ``manifest`` is written to the ``src`` file, as is when it is
``bytes`` and in UTF-8 otherwise. ``params`` are added to the module
arguments, with ``{tmp}`` replaced by the test's temporary directory.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Union

OVERRIDES = "quay.io/package-operator/=127.0.0.1:5000/pko/"


@dataclass(frozen=True)
class Case:
    id: str
    manifest: Union[str, bytes]
    fragments: List[str]
    overrides: object = OVERRIDES
    params: Dict[str, object] = field(default_factory=dict)


def job(
    image='"quay.io/package-operator/package-operator-manager:v1.18.2"',
    extra="",
    env=None,
):
    """Return a bootstrap-like Job with ``image`` and extra container lines."""
    if env is None:
        env = '        - name: PKO_IMAGE_PREFIX_OVERRIDES\n          value: ""\n'
    return (
        "apiVersion: batch/v1\n"
        "kind: Job\n"
        "metadata:\n"
        "  name: package-operator-bootstrap\n"
        "  namespace: package-operator-system\n"
        "spec:\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "      - name: package-operator\n"
        "        image: %s\n"
        "%s"
        "        env:\n"
        "%s" % (image, extra, env)
    )


def pod(containers):
    return (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n"
        "  containers: %s\n" % containers
    )


JOB_FIELD = (
    "document 1 (Job package-operator-system/package-operator-bootstrap), field "
)
IMAGE_FIELD = JOB_FIELD + "spec.template.spec.containers[0].image"

CASES = [
    # Override strings and lists.
    Case(
        "rule-without-equals",
        job(),
        ["entry 1 'quay.io/pko/' has no '='", "from=to"],
        "quay.io/pko/",
    ),
    Case("rule-empty-from", job(), ["'=m/' has an empty 'from'"], "=m/"),
    Case("rule-empty-to", job(), ["'quay.io/=' has an empty 'to'"], "quay.io/="),
    Case(
        "rule-trailing-comma",
        job(),
        ["entry 2", "is empty", "Remove the extra ','"],
        OVERRIDES + ",",
    ),
    Case(
        "rule-double-comma", job(), ["entry 2", "is empty"], "a.io/=b.io/,,c.io/=d.io/"
    ),
    Case(
        "rule-space-after-comma",
        job(),
        ["' c.io/=d.io/' has whitespace around it"],
        "a.io/=b.io/, c.io/=d.io/",
    ),
    Case(
        "rule-space-before-equals",
        job(),
        ["whitespace in its 'from' 'a.io/ '"],
        "a.io/ =b.io/",
    ),
    Case(
        "rule-duplicate-from",
        job(),
        ["repeats the 'from' 'a.io/' of entry 1"],
        "a.io/=b.io/,a.io/=c.io/",
    ),
    Case(
        "rule-second-equals",
        job(),
        ["second '=' in its 'to' 'b.io/=c'", "missing ','"],
        "a.io/=b.io/=c",
    ),
    Case(
        "rule-control-character",
        job(),
        ["control character in its 'from'"],
        "a.io/\x07=b.io/",
    ),
    Case("rules-int", job(), ["got int 5"], 5),
    Case("rules-mapping", job(), ["got dict"], {"from": "a.io/", "to": "b.io/"}),
    Case(
        "rules-list-of-strings",
        job(),
        ["item 1 must be a mapping", "got str 'a.io/=b.io/'"],
        ["a.io/=b.io/"],
    ),
    Case(
        "rules-item-missing-to",
        job(),
        ["item 1", "is missing 'to'"],
        [{"from": "a.io/"}],
    ),
    Case(
        "rules-item-extra-key",
        job(),
        ["unknown keys 'target'"],
        [{"from": "a.io/", "to": "b/", "target": "c/"}],
    ),
    Case(
        "rules-item-comma",
        job(),
        ["has ',' in its 'to'"],
        [{"from": "a.io/", "to": "b/,c/"}],
    ),
    Case(
        "rules-huge-entry", job(), ["has no '='", "(200002 characters)"], "x" * 200000
    ),
    Case(
        "rule-makes-invalid-reference",
        job(),
        [
            "the rule 'quay.io/package-operator/=Mirror/PKO/' turns",
            "Fix the rule's 'to'",
            IMAGE_FIELD,
        ],
        "quay.io/package-operator/=Mirror/PKO/",
    ),
    # Image references.
    Case(
        "image-upper-case",
        job('"quay.io/Package-Operator/manager:v1"'),
        [IMAGE_FIELD, "'Package-Operator' must be lower case"],
    ),
    Case(
        "image-space",
        job('"quay.io/package-operator/manager v1"'),
        [IMAGE_FIELD, "contains whitespace"],
    ),
    Case(
        "image-short-digest",
        job('"quay.io/package-operator/m@sha256:abc"'),
        [IMAGE_FIELD, "digest 'sha256:abc'"],
    ),
    Case(
        "image-empty-tag", job('"quay.io/package-operator/m:"'), [IMAGE_FIELD, "tag ''"]
    ),
    Case(
        "image-long-tag",
        job('"quay.io/package-operator/m:%s"' % ("t" * 200)),
        [IMAGE_FIELD, "1-128 characters"],
    ),
    Case(
        "image-long-name",
        job('"quay.io/package-operator/%s"' % ("a" * 300)),
        [IMAGE_FIELD, "longer than 255", "characters)"],
    ),
    Case(
        "image-huge",
        job('"%s"' % ("q" * 1000000)),
        [IMAGE_FIELD, "(1000002 characters)"],
    ),
    Case(
        "image-int",
        job("5"),
        [IMAGE_FIELD, "expected an image reference string, found the int '5'"],
    ),
    Case(
        "image-mapping",
        job("{repository: quay.io/x, tag: v1}"),
        [IMAGE_FIELD, "found a mapping"],
    ),
    Case(
        "package-image-invalid",
        "apiVersion: package-operator.run/v1alpha1\nkind: ClusterPackage\nmetadata: {name: pko}\n"
        "spec: {image: quay.io/PKO/x}\n",
        ["document 1 (ClusterPackage pko), field spec.image", "must be lower case"],
        params={"env_name": ""},
    ),
    Case(
        "package-image-missing",
        "apiVersion: package-operator.run/v1alpha1\nkind: Package\nmetadata: {name: p, namespace: n}\nspec: {}\n",
        ["document 1 (Package n/p), field spec.image: missing"],
        params={"env_name": ""},
    ),
    # Text that is not a YAML manifest.
    Case(
        "yaml-unclosed-flow",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p\n",
        ["src.yaml: line 4, column 1: not valid YAML"],
    ),
    Case(
        "yaml-bad-indent",
        "apiVersion: v1\n kind: Pod\n",
        ["src.yaml: line 2, column 6: not valid YAML"],
    ),
    Case(
        "yaml-tab-indent",
        "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: p\n",
        ["src.yaml: line 4, column 1: not valid YAML"],
    ),
    Case(
        "yaml-unknown-alias",
        job("*image"),
        ["src.yaml: line 11, column 16: not valid YAML", "alias"],
    ),
    Case(
        "yaml-deep-nesting",
        "a: " + "[" * 5000 + "]" * 5000 + "\n",
        ["src.yaml: ", "nesting"],
    ),
    Case(
        "binary-png",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        ["src.yaml is not UTF-8 text: the byte 0x89 at offset 0"],
    ),
    Case(
        "binary-utf16",
        job().encode("utf-16"),
        ["src.yaml is not UTF-8 text: the byte 0xff at offset 0"],
    ),
    Case(
        "nul-byte",
        job() + "\x00\n",
        ["src.yaml: line 15, column 1", "'\\x00' is not allowed"],
    ),
    Case(
        "document-is-list",
        "- a\n- b\n",
        ["document 1 (line 1) is a list, not a Kubernetes object"],
    ),
    Case(
        "document-is-scalar",
        job() + "---\njust text\n",
        ["document 2 (line 16) is a scalar"],
    ),
    Case(
        "document-without-kind",
        "apiVersion: v1\nmetadata: {name: x}\n",
        ["document 1 (x), field kind: missing or not a string"],
    ),
    Case(
        "document-without-api-version",
        "kind: Pod\nmetadata: {name: x}\n",
        ["field apiVersion: missing"],
    ),
    Case(
        "duplicate-key-container",
        job(extra='        image: "quay.io/x"\n'),
        ["the key 'image' appears twice (lines 11 and 12)"],
    ),
    Case(
        "duplicate-key-top",
        "apiVersion: v1\nkind: Pod\nkind: Service\n",
        ["the key 'kind' appears twice (lines 2 and 3)"],
    ),
    Case(
        "containers-string",
        pod("nginx"),
        ["field spec.containers: expected a list of containers, found the str 'nginx'"],
    ),
    Case(
        "container-string",
        pod("[nginx]"),
        ["field spec.containers[0]: expected a container mapping"],
    ),
    Case(
        "env-mapping",
        job(env="          PKO_IMAGE_PREFIX_OVERRIDES: x\n"),
        ["containers[0].env: expected a list of {name, value} entries"],
    ),
    Case(
        "env-without-name",
        job(env="        - value: x\n"),
        ["containers[0].env[0].name: missing or not a string"],
    ),
    Case(
        "args-string",
        job(extra="        args: -self-bootstrap=quay.io/x\n"),
        ["containers[0].args: expected a list of strings"],
    ),
    Case(
        "env-value-from",
        job(
            env="        - name: PKO_IMAGE_PREFIX_OVERRIDES\n          valueFrom: {configMapKeyRef: {name: c, key: k}}\n"
        ),
        [JOB_FIELD + "spec.template.spec.containers[0].env[0]", "sets valueFrom"],
    ),
    Case(
        "env-value-mapping",
        job(
            env="        - name: PKO_IMAGE_PREFIX_OVERRIDES\n          value: {a: b}\n"
        ),
        ["containers[0].env[0].value: expected a string, found a collection"],
    ),
    Case(
        "env-value-int-tag",
        job(
            env="        - name: PKO_IMAGE_PREFIX_OVERRIDES\n          value: !!int 5\n"
        ),
        ["containers[0].env[0].value", "explicit tag tag:yaml.org,2002:int"],
    ),
    Case(
        "env-not-declared",
        job(env="        - name: PKO_CONFIG\n          value: ''\n"),
        [
            "no container declares the env var PKO_IMAGE_PREFIX_OVERRIDES",
            "Add '- name: PKO_IMAGE_PREFIX_OVERRIDES'",
        ],
    ),
    # Module options.
    Case(
        "env-name-invalid",
        job(),
        ["env_name 'A=B' is not a valid environment variable name"],
        params={"env_name": "A=B"},
    ),
    Case(
        "src-missing",
        job(),
        ["src {tmp}/missing.yaml does not exist"],
        params={"src": "{tmp}/missing.yaml"},
    ),
    Case("src-directory", job(), ["src {tmp} is a directory"], params={"src": "{tmp}"}),
    Case(
        "dest-directory-missing",
        job(),
        ["the directory of dest {tmp}/no/such/out.yaml does not exist"],
        params={"dest": "{tmp}/no/such/out.yaml"},
    ),
    Case(
        "dest-is-directory",
        job(),
        ["dest {tmp} is a directory"],
        params={"dest": "{tmp}"},
    ),
]
