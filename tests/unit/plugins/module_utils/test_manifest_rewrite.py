# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import json
import os
import textwrap

import pytest
import yaml

from ansible_collections.pko.airgap.plugins.module_utils import manifest_rewrite
from ansible_collections.pko.airgap.plugins.module_utils.manifest_rewrite import (
    rewrite_manifest,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_yaml import (
    Edit,
    ManifestError,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixOverrideError,
)

FIXTURE = os.path.join(
    os.path.dirname(__file__),
    "..",
    "..",
    "..",
    "fixtures",
    "pko-v1.18.2",
    "self-bootstrap-job.yaml",
)
MIRROR = "127.0.0.1:5000"
OVERRIDES = "quay.io/package-operator/=%s/pko/" % MIRROR
DIGEST = "sha256:" + "d" * 64


def _read_fixture():
    with open(FIXTURE, encoding="utf-8") as handle:
        return handle.read()


def _documents(text):
    """Split a stream at its '---' lines, keeping each document's exact text."""
    parts, current = [], []
    for line in text.splitlines(keepends=True):
        if line.rstrip("\r\n") == "---" and current:
            parts.append("".join(current))
            current = []
        current.append(line)
    parts.append("".join(current))
    return parts


def _changed_lines(before, after):
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return {
        number: new[number] for number in range(len(old)) if old[number] != new[number]
    }


def _manifest(text):
    return textwrap.dedent(text).lstrip("\n")


def test_self_bootstrap_job_acceptance():
    original = _read_fixture()

    result = rewrite_manifest(original, OVERRIDES, source="self-bootstrap-job.yaml")

    changed = _changed_lines(original, result.text)
    assert sorted(changed) == [50, 51, 56]
    assert (
        changed[50]
        == '        image: "%s/pko/package-operator-manager:v1.18.2"\n' % MIRROR
    )
    assert changed[51] == (
        '        args: ["-self-bootstrap=%s/pko/package-operator-package:v1.18.2"]\n'
        % MIRROR
    )
    assert changed[56] == '          value: "%s"\n' % OVERRIDES
    assert _documents(result.text)[:3] == _documents(original)[:3]
    assert result.env_value == OVERRIDES


def test_self_bootstrap_job_second_run_changes_nothing():
    once = rewrite_manifest(_read_fixture(), OVERRIDES).text

    again = rewrite_manifest(once, OVERRIDES)

    assert again.text == once
    assert again.rewrites == []
    assert not again.changed


def test_self_bootstrap_job_rewrites_report():
    result = rewrite_manifest(_read_fixture(), OVERRIDES)

    reported = [rewrite.as_dict() for rewrite in result.rewrites]

    assert reported[0] == {
        "document": 4,
        "kind": "Job",
        "namespace": "package-operator-system",
        "name": "package-operator-bootstrap",
        "path": "spec.template.spec.containers[0].image",
        "before": "quay.io/package-operator/package-operator-manager:v1.18.2",
        "after": MIRROR + "/pko/package-operator-manager:v1.18.2",
    }
    assert [item["path"] for item in reported] == [
        "spec.template.spec.containers[0].image",
        "spec.template.spec.containers[0].args[0]",
        "spec.template.spec.containers[0].env[1].value",
    ]


def test_extending_to_applied_once():
    overrides = "quay.io/package-operator/=quay.io/package-operator/mirror/"
    once = rewrite_manifest(_read_fixture(), overrides).text

    twice = rewrite_manifest(once, overrides).text

    assert twice == once
    assert "mirror/mirror" not in twice
    assert "quay.io/package-operator/mirror/package-operator-manager:v1.18.2" in twice


POD_SPECS_ANYWHERE = _manifest("""
    apiVersion: example.com/v1
    kind: Widget
    metadata: {name: w}
    spec:
      runner:
        podTemplate:
          spec:
            initContainers:
            - name: init
              image: quay.io/pko/init:v1
            containers:
            - name: main
              image: quay.io/pko/main:v1
    ---
    apiVersion: package-operator.run/v1alpha1
    kind: ObjectSet
    metadata: {name: os, namespace: ns}
    spec:
      phases:
      - name: deploy
        objects:
        - object:
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: d}
            spec:
              template:
                spec:
                  containers:
                  - name: c
                    image: quay.io/pko/phase:v1
    ---
    apiVersion: v1
    kind: List
    items:
    - apiVersion: batch/v1
      kind: CronJob
      metadata: {name: cj}
      spec:
        jobTemplate:
          spec:
            template:
              spec:
                containers:
                - name: c
                  image: quay.io/pko/cron:v1
    - apiVersion: v1
      kind: Pod
      metadata: {name: p}
      spec:
        ephemeralContainers:
        - name: debug
          image: quay.io/pko/debug:v1
    """)


def test_finds_pod_specs_anywhere():
    result = rewrite_manifest(
        POD_SPECS_ANYWHERE, "quay.io/pko/=m.example.com/pko/", env_name=""
    )

    paths = [(rewrite.document, rewrite.path) for rewrite in result.rewrites]
    assert paths == [
        (1, "spec.runner.podTemplate.spec.initContainers[0].image"),
        (1, "spec.runner.podTemplate.spec.containers[0].image"),
        (2, "spec.phases[0].objects[0].object.spec.template.spec.containers[0].image"),
        (3, "items[0].spec.jobTemplate.spec.template.spec.containers[0].image"),
        (3, "items[1].spec.ephemeralContainers[0].image"),
    ]
    assert "quay.io/pko/" not in result.text


@pytest.mark.parametrize(
    "manifest",
    [
        pytest.param(
            _manifest("""
                apiVersion: kyverno.io/v1
                kind: ClusterPolicy
                metadata: {name: p}
                spec:
                  rules:
                  - validate:
                      pattern:
                        spec:
                          containers:
                          - image: "quay.io/pko/*"
                """),
            id="policy-pattern",
        ),
        pytest.param(
            _manifest("""
                apiVersion: example.com/v1
                kind: Chart
                metadata: {name: c}
                spec:
                  image: quay.io/pko/x:v1
                  values:
                    image: {repository: quay.io/pko/x, tag: v1}
                """),
            id="image-outside-containers",
        ),
        pytest.param(
            _manifest("""
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: c
                  annotations:
                    image: quay.io/pko/x:v1
                data:
                  containers: quay.io/pko/x:v1
                """),
            id="configmap",
        ),
        pytest.param(
            _manifest("""
                apiVersion: example.com/v1
                kind: Template
                metadata: {name: t}
                spec:
                  containers:
                  - name: c
                    image: "{{ .Values.image }}"
                  - name: d
                    image: "$(IMAGE)"
                  - name: e
                    image: ""
                """),
            id="templates",
        ),
    ],
)
def test_leaves_non_container_images_alone(manifest):
    result = rewrite_manifest(manifest, "")

    assert result.text == manifest
    assert result.rewrites == []


def test_pattern_only_manifest_needs_env():
    manifest = _manifest("""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata: {name: p}
        spec:
          pattern:
            containers:
            - image: "quay.io/pko/*"
        """)

    with pytest.raises(ManifestError, match="no container declares"):
        rewrite_manifest(manifest, "quay.io/pko/=m/pko/")


def _job(container_yaml, env="- name: PKO_IMAGE_PREFIX_OVERRIDES\n  value: ''"):
    container = textwrap.indent(textwrap.dedent(container_yaml).strip("\n"), " " * 10)
    env_block = textwrap.indent(env, " " * 10)
    return (
        "apiVersion: batch/v1\n"
        "kind: Job\n"
        "metadata:\n"
        "  name: j\n"
        "  namespace: ns\n"
        "spec:\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "        - name: c\n"
        "%s\n"
        "          env:\n"
        "%s\n" % (container, env_block)
    )


@pytest.mark.parametrize(
    "argument, expected",
    [
        pytest.param(
            "-self-bootstrap=quay.io/pko/p:v1",
            "-self-bootstrap=m/pko/p:v1",
            id="single-dash",
        ),
        pytest.param(
            "--package=quay.io/pko/p:v1", "--package=m/pko/p:v1", id="double-dash"
        ),
        pytest.param("quay.io/pko/p:v1", "m/pko/p:v1", id="bare"),
        pytest.param(
            "--image=quay.io/pko/p@" + DIGEST, "--image=m/pko/p@" + DIGEST, id="digest"
        ),
        pytest.param(
            "--enable-leader-election", "--enable-leader-election", id="plain-flag"
        ),
        pytest.param(
            "--other=quay.io/other/x:v1", "--other=quay.io/other/x:v1", id="unmatched"
        ),
        pytest.param("echo quay.io/pko/p:v1", "echo quay.io/pko/p:v1", id="shell-text"),
        pytest.param("--x=Quay.io/PKO/x", "--x=Quay.io/PKO/x", id="invalid-left-alone"),
    ],
)
def test_rewrites_arguments(argument, expected):
    manifest = _job("image: quay.io/pko/main:v1\nargs:\n- %s" % json.dumps(argument))

    result = rewrite_manifest(manifest, "quay.io/pko/=m/pko/")

    loaded = yaml.safe_load(result.text)
    container = loaded["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [expected]
    assert container["image"] == "m/pko/main:v1"


@pytest.mark.parametrize(
    "argument, problem",
    [
        pytest.param(
            "-self-bootstrap=quay.io/Other/p:v1",
            "invalid image reference 'quay.io/Other/p:v1': repository component "
            "'Other' must be lower case",
            id="package-flag-without-rule",
        ),
        pytest.param(
            "--image=quay.io/pko/P:v1",
            "invalid image reference 'quay.io/pko/P:v1': repository component 'P' "
            "must be lower case",
            id="flag-matched-by-rule",
        ),
        pytest.param(
            "quay.io/pko/p:v1 extra",
            "invalid image reference 'quay.io/pko/p:v1 extra'",
            id="bare-matched-by-rule",
        ),
    ],
)
def test_invalid_pulled_argument_fails(argument, problem):
    manifest = _job("image: quay.io/pko/main:v1\nargs:\n- %s" % json.dumps(argument))

    with pytest.raises(ManifestError) as caught:
        rewrite_manifest(manifest, "quay.io/pko/=m/pko/", source="job.yaml")

    message = str(caught.value)
    assert message.startswith(
        "job.yaml: document 1 (Job ns/j), field "
        "spec.template.spec.containers[0].args[0]: " + problem
    )
    assert message.endswith(
        "with a lower-case repository. PKO would pull it as an image, so fix the "
        "reference in the manifest."
    )


def test_rewrites_command_items():
    manifest = _job(
        'image: quay.io/pko/main:v1\ncommand: ["/manager", "--pull=quay.io/pko/x:v1"]'
    )

    result = rewrite_manifest(manifest, "quay.io/pko/=m/pko/")

    assert 'command: ["/manager", "--pull=m/pko/x:v1"]' in result.text


@pytest.mark.parametrize(
    "kind, api_version",
    [
        pytest.param("Package", "package-operator.run/v1alpha1", id="package"),
        pytest.param(
            "ClusterPackage", "package-operator.run/v1alpha1", id="cluster-package"
        ),
    ],
)
def test_rewrites_package_spec_image(kind, api_version):
    manifest = _manifest("""
        apiVersion: %s
        kind: %s
        metadata:
          name: pko
        spec:
          image: quay.io/pko/package:v1 # the package
        """ % (api_version, kind))

    result = rewrite_manifest(manifest, "")
    rewritten = rewrite_manifest(manifest, "quay.io/pko/=m/pko/", env_name="")

    assert result.text == manifest
    assert rewritten.text == manifest.replace(
        "quay.io/pko/package:v1", "m/pko/package:v1"
    )


def test_package_of_other_group_is_left_alone():
    manifest = "apiVersion: example.com/v1\nkind: Package\nmetadata: {name: p}\nspec: {image: quay.io/pko/x}\n"

    assert rewrite_manifest(manifest, "").text == manifest


def test_package_without_image_is_an_error():
    manifest = "apiVersion: package-operator.run/v1alpha1\nkind: Package\nmetadata: {name: p}\nspec: {}\n"

    with pytest.raises(ManifestError, match=r"field spec\.image: missing"):
        rewrite_manifest(manifest, "")


@pytest.mark.parametrize(
    "rewrite_env_values, expected",
    [
        pytest.param(False, "quay.io/pko/sidecar:v1", id="off"),
        pytest.param(True, "m/pko/sidecar:v1", id="on"),
    ],
)
def test_rewrite_env_values(rewrite_env_values, expected):
    env = (
        "- name: PKO_IMAGE_PREFIX_OVERRIDES\n  value: ''\n"
        "- name: SIDECAR_IMAGE\n  value: quay.io/pko/sidecar:v1\n"
        "- name: COUNT\n  value: '3'\n"
        "- name: HOSTS\n  value: quay.io=m"
    )
    manifest = _job("image: quay.io/pko/main:v1", env)

    result = rewrite_manifest(
        manifest, "quay.io/pko/=m/pko/", rewrite_env_values=rewrite_env_values
    )

    values = {
        item["name"]: item["value"]
        for item in yaml.safe_load(result.text)["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
    }
    assert values["SIDECAR_IMAGE"] == expected
    assert values["COUNT"] == "3"
    assert values["HOSTS"] == "quay.io=m"
    assert values["PKO_IMAGE_PREFIX_OVERRIDES"] == "quay.io/pko/=m/pko/"


def test_normalize_rewrites_short_image_but_not_words():
    manifest = _job(
        'image: nginx:1\ncommand: ["sleep", "3600"]\nargs: ["docker.io/busybox"]'
    )

    result = rewrite_manifest(manifest, "docker.io/=m/hub/", normalize=True)

    container = yaml.safe_load(result.text)["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "m/hub/library/nginx:1"
    assert container["command"] == ["sleep", "3600"]
    assert container["args"] == ["m/hub/library/busybox"]


def test_boundary_leaves_sibling_repository():
    manifest = _job("image: quay.io/pko-extra/x:v1\nargs: [quay.io/pko/x:v1]")

    plain = rewrite_manifest(manifest, "quay.io/pko=m/pko")
    bounded = rewrite_manifest(manifest, "quay.io/pko=m/pko", boundary=True)

    assert "m/pko-extra/x:v1" in plain.text
    assert "quay.io/pko-extra/x:v1" in bounded.text
    # A plain scalar with ':' inside a flow sequence gets double quotes, which
    # every YAML 1.1 parser reads the same way.
    assert 'args: ["m/pko/x:v1"]' in bounded.text


@pytest.mark.parametrize(
    "image, expected",
    [
        pytest.param(
            "quay.io/pko/x:v1@" + DIGEST,
            "m:5000/pko/x:v1@" + DIGEST,
            id="tag-and-digest",
        ),
        pytest.param(
            "quay.io:443/pko/x:v1", "quay.io:443/pko/x:v1", id="port-not-matched"
        ),
        pytest.param(
            "localhost:5000/a/b:c", "localhost:5000/a/b:c", id="localhost-port"
        ),
    ],
)
def test_rewrites_references_with_digests_and_ports(image, expected):
    manifest = _job("image: %s" % image)

    result = rewrite_manifest(manifest, "quay.io/pko/=m:5000/pko/")

    assert (
        yaml.safe_load(result.text)["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
        == expected
    )


@pytest.mark.parametrize(
    "image, fragment",
    [
        pytest.param(
            "Quay.io/PKO/x:v1",
            "repository component 'PKO' must be lower case",
            id="upper-case",
        ),
        pytest.param(
            "quay.io/pko/x:v1@sha256:abc", "digest 'sha256:abc'", id="short-digest"
        ),
        pytest.param("quay.io/pko/x y", "contains whitespace", id="space"),
    ],
)
def test_invalid_image_names_object_and_field(image, fragment):
    manifest = _job("image: %s" % json.dumps(image))

    with pytest.raises(ManifestError) as raised:
        rewrite_manifest(manifest, "quay.io/pko/=m/pko/", source="job.yaml")

    message = str(raised.value)
    assert message.startswith("job.yaml: document 1 (Job ns/j), field ")
    assert "spec.template.spec.containers[0].image" in message
    assert fragment in message


def test_rule_producing_invalid_reference_is_named():
    manifest = _job("image: quay.io/pko/x:v1")

    with pytest.raises(ManifestError) as raised:
        rewrite_manifest(manifest, "quay.io/pko/=Mirror/PKO/")

    assert "the rule 'quay.io/pko/=Mirror/PKO/' turns" in str(raised.value)
    assert "Fix the rule's 'to'" in str(raised.value)


@pytest.mark.parametrize(
    "env, expected",
    [
        pytest.param(
            "- name: PKO_IMAGE_PREFIX_OVERRIDES",
            "          - name: PKO_IMAGE_PREFIX_OVERRIDES\n"
            "            value: quay.io/pko/=m/pko/\n",
            id="block-name-only",
        ),
        pytest.param(
            "- {name: PKO_IMAGE_PREFIX_OVERRIDES}",
            "          - {name: PKO_IMAGE_PREFIX_OVERRIDES, value: quay.io/pko/=m/pko/}\n",
            id="flow-name-only",
        ),
        pytest.param(
            "- name: PKO_IMAGE_PREFIX_OVERRIDES\n  value:",
            "          - name: PKO_IMAGE_PREFIX_OVERRIDES\n"
            "            value: quay.io/pko/=m/pko/\n",
            id="empty-value",
        ),
        pytest.param(
            "- name: PKO_IMAGE_PREFIX_OVERRIDES\n  value: 'old=value/'",
            "          - name: PKO_IMAGE_PREFIX_OVERRIDES\n"
            "            value: 'quay.io/pko/=m/pko/'\n",
            id="single-quoted",
        ),
    ],
)
def test_sets_env_value(env, expected):
    manifest = _job("image: quay.io/pko/x:v1", env)

    result = rewrite_manifest(manifest, "quay.io/pko/=m/pko/")

    assert result.text.endswith(expected)


def test_sets_env_value_in_every_declaring_container():
    manifest = _manifest("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          initContainers:
          - name: a
            image: quay.io/pko/a:v1
            env: [{name: PKO_IMAGE_PREFIX_OVERRIDES, value: ""}]
          containers:
          - name: b
            image: quay.io/pko/b:v1
            env:
            - name: PKO_IMAGE_PREFIX_OVERRIDES
              value: ""
          - name: c
            image: quay.io/pko/c:v1
        """)

    result = rewrite_manifest(manifest, "quay.io/pko/=m/pko/")

    spec = yaml.safe_load(result.text)["spec"]
    assert spec["initContainers"][0]["env"] == [
        {"name": "PKO_IMAGE_PREFIX_OVERRIDES", "value": "quay.io/pko/=m/pko/"}
    ]
    assert spec["containers"][0]["env"][0]["value"] == "quay.io/pko/=m/pko/"
    assert "env" not in spec["containers"][1]


def test_env_value_from_is_an_error():
    env = "- name: PKO_IMAGE_PREFIX_OVERRIDES\n  valueFrom:\n    configMapKeyRef: {name: c, key: k}"

    with pytest.raises(ManifestError, match="sets valueFrom"):
        rewrite_manifest(_job("image: quay.io/pko/x:v1", env), "quay.io/pko/=m/pko/")


def test_missing_env_declaration_is_an_error():
    manifest = _job("image: quay.io/pko/x:v1", "- name: OTHER\n  value: x")

    with pytest.raises(ManifestError) as raised:
        rewrite_manifest(manifest, "quay.io/pko/=m/pko/", source="job.yaml")

    assert str(raised.value).startswith(
        "job.yaml: no container declares the env var PKO_IMAGE_PREFIX_OVERRIDES"
    )


def test_empty_overrides_need_no_env_declaration():
    manifest = _job("image: quay.io/pko/x:v1", "- name: OTHER\n  value: x")

    assert rewrite_manifest(manifest, "").text == manifest


def test_custom_env_name():
    manifest = _job("image: quay.io/pko/x:v1", "- name: MY_OVERRIDES\n  value: ''")

    result = rewrite_manifest(manifest, "quay.io/pko/=m/pko/", env_name="MY_OVERRIDES")

    assert "value: 'quay.io/pko/=m/pko/'" in result.text


@pytest.mark.parametrize(
    "env_name",
    [
        pytest.param("A=B", id="equals"),
        pytest.param("A B", id="space"),
        pytest.param(5, id="int"),
    ],
)
def test_invalid_env_name(env_name):
    with pytest.raises(ManifestError, match="env_name"):
        rewrite_manifest(
            _job("image: quay.io/pko/x:v1"), "quay.io/pko/=m/pko/", env_name=env_name
        )


def test_invalid_overrides_raise():
    with pytest.raises(PrefixOverrideError, match="has no '='"):
        rewrite_manifest(_job("image: quay.io/pko/x:v1"), "quay.io/pko/")


def test_duplicate_key_is_an_error():
    manifest = _job("image: quay.io/pko/x:v1\nimage: quay.io/pko/y:v1")

    with pytest.raises(ManifestError) as raised:
        rewrite_manifest(manifest, "quay.io/pko/=m/pko/")

    assert "the key 'image' appears twice (lines 11 and 12)" in str(raised.value)
    assert "spec.template.spec.containers[0]" in str(raised.value)


def test_keeps_comments_quoting_and_separators():
    manifest = (
        "# leading comment\n"
        "---\n"
        "# comment-only document\n"
        "---\n"
        "apiVersion: v1   # trailing\n"
        "kind: Pod\n"
        "metadata: {name: p}\n"
        "spec:\n"
        "    containers:\n"
        "        -   name: a   # indented oddly\n"
        "            image: 'quay.io/pko/a:v1'    # single quoted\n"
        '        -   {name: b, image: "quay.io/pko/b:v1"}\n'
        "        -   name: c\n"
        "            image: quay.io/pko/c:v1\n"
        "...\n"
        "---\n"
        "apiVersion: v1\n"
        "kind: Namespace\n"
        "metadata:\n"
        "  name: untouched\n"
    )

    result = rewrite_manifest(manifest, "quay.io/pko/=m/pko/", env_name="")

    expected = (
        manifest.replace("'quay.io/pko/a:v1'", "'m/pko/a:v1'")
        .replace('"quay.io/pko/b:v1"', '"m/pko/b:v1"')
        .replace("image: quay.io/pko/c:v1", "image: m/pko/c:v1")
    )
    assert result.text == expected
    # A comment before the first '---' starts no document of its own.
    assert [rewrite.document for rewrite in result.rewrites] == [2, 2, 2]


def test_undeclared_env_name_with_rules_is_an_error():
    manifest = _job("image: quay.io/pko/x:v1")

    with pytest.raises(ManifestError, match="no container declares the env var UNUSED"):
        rewrite_manifest(manifest, "quay.io/pko/=m/pko/", env_name="UNUSED")


def test_crlf_and_byte_order_mark_are_kept():
    original = _read_fixture().replace("\n", "\r\n")
    original = "\ufeff" + original

    result = rewrite_manifest(original, OVERRIDES)

    assert result.text.startswith("\ufeffapiVersion: v1\r\n")
    assert "\n" not in result.text.replace("\r\n", "")
    assert sorted(_changed_lines(original, result.text)) == [50, 51, 56]


def test_non_ascii_comments_keep_offsets():
    manifest = _job("# Größe 😀 ünd ümläute\nimage: quay.io/pko/x:v1 # 😀")

    result = rewrite_manifest(manifest, "quay.io/pko/=m/pko/")

    assert "image: m/pko/x:v1 # 😀" in result.text
    assert "# Größe 😀 ünd ümläute" in result.text


def test_json_manifest():
    manifest = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "quay.io/pko/x:v1",
                        "env": [{"name": "PKO_IMAGE_PREFIX_OVERRIDES"}],
                    }
                ]
            },
        },
        indent=2,
    )

    result = rewrite_manifest(manifest, "quay.io/pko/=m/pko/")

    loaded = json.loads(result.text)
    assert loaded["spec"]["containers"][0]["image"] == "m/pko/x:v1"
    assert loaded["spec"]["containers"][0]["env"][0]["value"] == "quay.io/pko/=m/pko/"


def test_aliased_image_is_rewritten_at_its_anchor():
    manifest = _manifest("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - name: a
            image: &img quay.io/pko/x:v1
          - name: b
            image: *img
        """)

    result = rewrite_manifest(manifest, "quay.io/pko/=m/pko/", env_name="")

    assert result.text == manifest.replace("&img quay.io/pko/x:v1", "&img m/pko/x:v1")
    assert [rewrite.path for rewrite in result.rewrites] == [
        "spec.containers[0].image",
        "spec.containers[1].image",
    ]


@pytest.mark.parametrize(
    "manifest, fragment",
    [
        pytest.param(
            "- a\n- b\n",
            "document 1 (line 1) is a list, not a Kubernetes object",
            id="list-root",
        ),
        pytest.param(
            "just text\n", "is a scalar, not a Kubernetes object", id="scalar-root"
        ),
        pytest.param(
            "apiVersion: v1\nmetadata: {name: x}\n",
            "field kind: missing or not a string",
            id="no-kind",
        ),
        pytest.param("kind: Pod\n", "field apiVersion: missing", id="no-api-version"),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: nginx\n",
            "spec.containers: expected a list of containers, found the str 'nginx'",
            id="containers-string",
        ),
        pytest.param(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template: [a]\n",
            "field spec.template: expected a mapping, found a list",
            id="template-list",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - nginx\n",
            "spec.containers[0]: expected a container mapping",
            id="container-string",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: 5}\n",
            "spec.containers[0].image: expected an image reference string, found the int '5'",
            id="image-int",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: x, env: {A: b}}\n",
            "spec.containers[0].env: expected a list of {name, value} entries",
            id="env-mapping",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: x, env: [{value: b}]}\n",
            "spec.containers[0].env[0].name: missing or not a string",
            id="env-without-name",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: x, args: --flag}\n",
            "spec.containers[0].args: expected a list of strings",
            id="args-string",
        ),
    ],
)
def test_structure_errors(manifest, fragment):
    with pytest.raises(ManifestError) as raised:
        rewrite_manifest(manifest, "", source="m.yaml")

    assert str(raised.value).startswith("m.yaml: ")
    assert fragment in str(raised.value)


def test_verification_catches_a_wrong_edit(monkeypatch):
    real = manifest_rewrite.replace_scalar

    def corrupting(stream, node, value, flow, key=None):
        if value.startswith(MIRROR):
            value += "-corrupted"
        return real(stream, node, value, flow, key)

    monkeypatch.setattr(manifest_rewrite, "replace_scalar", corrupting)

    with pytest.raises(ManifestError) as raised:
        rewrite_manifest(_read_fixture(), OVERRIDES, source="job.yaml")

    assert "internal error: the rewritten text failed verification" in str(raised.value)
    assert "spec.template.spec.containers[0].image" in str(raised.value)


def test_verification_catches_a_broken_document(monkeypatch):
    real = manifest_rewrite.replace_scalar

    def breaking(stream, node, value, flow, key=None):
        edit = real(stream, node, value, flow, key)
        return Edit(edit.start, edit.end, edit.replacement + "\n---\n")

    monkeypatch.setattr(manifest_rewrite, "replace_scalar", breaking)

    with pytest.raises(ManifestError, match="internal error"):
        rewrite_manifest(_read_fixture(), OVERRIDES)


def test_references_collected_for_lint():
    result = rewrite_manifest(_read_fixture(), "")

    assert result.references == [
        "quay.io/package-operator/package-operator-manager:v1.18.2",
        "quay.io/package-operator/package-operator-package:v1.18.2",
    ]


def test_words_in_arguments_are_not_lint_references():
    manifest = _job(
        'image: quay.io/pko/x:v1\ncommand: ["sleep", "3600", "--image=quay.io/pko/y:v1"]'
    )

    result = rewrite_manifest(manifest, "")

    assert result.references == ["quay.io/pko/x:v1", "quay.io/pko/y:v1"]
