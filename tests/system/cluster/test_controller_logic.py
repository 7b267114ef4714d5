# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The PKO test controller's pure parts: templates, pinning, layers, Job status.

These need no server, so they run in a second and pin down the behaviour
that the slower cluster tests rely on.
"""

import base64
import io
import os
import tarfile

import pytest
import yaml

from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixMatcher,
)
from localenv.pko_controller.package import (
    BootstrapError,
    pinned_lock_images,
    read_package,
    render_template,
)
from localenv.pko_controller.pull import (
    apply_layer,
    is_loopback_host,
    parse_docker_config,
)
from localenv.pko_controller.status import (
    cluster_package_status,
    image_hash,
    job_complete_status,
    job_failed_status,
    parse_bootstrap_job,
)
from localenv.pytest_cluster import TESTS_DIR

DIGEST = "sha256:" + "a" * 64
SELF_BOOTSTRAP = os.path.join(
    TESTS_DIR, "fixtures", "pko-v1.18.2", "self-bootstrap-job.yaml"
)


def fixture_job():
    with open(SELF_BOOTSTRAP, encoding="utf-8") as handle:
        return list(yaml.safe_load_all(handle))[-1]


def job_container(job):
    return job["spec"]["template"]["spec"]["containers"][0]


def set_env(job, name, entry):
    container = job_container(job)
    container["env"] = [e for e in container["env"] if e["name"] != name] + [
        dict(entry, name=name)
    ]


def tar_layer(entries):
    """Return an uncompressed tar with ``entries`` of (path, bytes or None for a directory)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, data in entries:
            info = tarfile.TarInfo(path)
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "text, expected",
    [
        ('image: "{{.images.manager}}"', 'image: "mirror/manager@%s"' % DIGEST),
        ("image: {{ .images.manager }}", "image: mirror/manager@%s" % DIGEST),
        ('image: {{index .images "manager"}}', "image: mirror/manager@%s" % DIGEST),
    ],
    ids=["field", "field-spaces", "index"],
)
def test_render_template_fills_images(text, expected):
    images = {"manager": "mirror/manager@%s" % DIGEST}

    assert render_template("deploy/a.yaml.gotmpl", text, images) == expected


def test_render_template_rejects_other_actions():
    with pytest.raises(BootstrapError) as raised:
        render_template("deploy/a.yaml.gotmpl", "ns: {{ .config.namespace }}", {})

    assert "uses {{ .config.namespace }}" in str(raised.value)
    assert "deploy/a.yaml.gotmpl" in str(raised.value)


def test_render_template_rejects_unknown_image():
    with pytest.raises(BootstrapError) as raised:
        render_template("t.gotmpl", "{{.images.other}}", {"manager": "x"})

    assert "image 'other'" in str(raised.value)
    assert "listed: manager" in str(raised.value)


@pytest.mark.parametrize(
    "overrides, image, expected",
    [
        (
            "quay.io/package-operator/=mirror.example.com/pko/",
            "quay.io/package-operator/package-operator-manager:v1.18.2",
            "mirror.example.com/pko/package-operator-manager@" + DIGEST,
        ),
        (
            "",
            "quay.io/package-operator/package-operator-manager:v1.18.2",
            "quay.io/package-operator/package-operator-manager@" + DIGEST,
        ),
        (
            # PKO matches a plain string prefix, so a rule without a trailing
            # slash also takes a sibling repository.
            "quay.io/package-operator=mirror.example.com/pko",
            "quay.io/package-operator-extra/tool:v1",
            "mirror.example.com/pko-extra/tool@" + DIGEST,
        ),
        (
            "quay.io/=short.example.com/,quay.io/package-operator/=long.example.com/",
            "quay.io/package-operator/package-operator-manager:v1.18.2",
            "long.example.com/package-operator-manager@" + DIGEST,
        ),
    ],
    ids=["rewritten", "no-override", "no-boundary", "longest-wins"],
)
def test_pinned_lock_images(overrides, image, expected):
    lock = [{"name": "manager", "image": image, "digest": DIGEST}]

    pinned = pinned_lock_images(lock, PrefixMatcher(overrides))

    assert pinned == {"manager": expected}


def test_apply_layer_whiteouts():
    files = {}
    apply_layer(
        files,
        tar_layer(
            [
                ("package/", None),
                ("package/a.yaml", b"a"),
                ("package/dir/b.yaml", b"b"),
                ("package/gone/c.yaml", b"c"),
                ("other/d.yaml", b"d"),
            ]
        ),
        "package/",
    )
    apply_layer(
        files,
        tar_layer(
            [
                ("./package/dir/new.yaml", b"new"),
                ("package/.wh.gone", b""),
                ("package/dir/.wh..wh..opq", b""),
                ("package/.wh.a.yaml", b""),
            ]
        ),
        "package/",
    )

    assert files == {"package/dir/new.yaml": b"new"}


def test_read_package_requires_manifest():
    with pytest.raises(BootstrapError) as raised:
        read_package(
            {"package/manifest.lock.yaml": b"kind: PackageManifestLock"}, "ref"
        )

    assert "has no package/manifest.yaml" in str(raised.value)


def test_read_package_rejects_non_crd():
    files = {
        "package/manifest.yaml": b"kind: PackageManifest\n",
        "package/crds/x.yaml": b"kind: ConfigMap\n",
    }

    with pytest.raises(BootstrapError) as raised:
        read_package(files, "ref")

    assert "contains a ConfigMap" in str(raised.value)


def test_parse_bootstrap_job_fixture():
    request = parse_bootstrap_job(fixture_job())

    assert (
        request.package_image
        == "quay.io/package-operator/package-operator-package:v1.18.2"
    )
    assert request.container_images == [
        "quay.io/package-operator/package-operator-manager:v1.18.2"
    ]
    assert request.prefix_overrides == ""
    assert request.pull_secret_names == []


def test_parse_bootstrap_job_reads_overrides_and_secrets():
    job = fixture_job()
    set_env(job, "PKO_IMAGE_PREFIX_OVERRIDES", {"value": "quay.io/=mirror/"})
    job["spec"]["template"]["spec"]["imagePullSecrets"] = [{"name": "pull"}]

    request = parse_bootstrap_job(job)

    assert request.prefix_overrides == "quay.io/=mirror/"
    assert request.pull_secret_names == ["pull"]


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            lambda job: job_container(job).update(args=["--enable-leader-election"]),
            "no container has a -self-bootstrap=<package image> argument",
        ),
        (
            lambda job: set_env(
                job, "PKO_REGISTRY_HOST_OVERRIDES", {"value": "quay.io=m"}
            ),
            "does not implement registry host overrides",
        ),
        (
            lambda job: set_env(
                job,
                "PKO_IMAGE_PREFIX_OVERRIDES",
                {"valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
            ),
            "uses valueFrom",
        ),
    ],
    ids=["no-self-bootstrap", "host-overrides", "value-from"],
)
def test_parse_bootstrap_job_rejects(change, expected):
    job = fixture_job()
    change(job)

    with pytest.raises(BootstrapError) as raised:
        parse_bootstrap_job(job)

    assert expected in str(raised.value)


def test_job_status_condition_order():
    complete = job_complete_status("2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z")
    failed = job_failed_status(
        "2026-01-01T00:00:00Z", "ImagePullBackOff", "m", "2026-01-01T00:00:05Z"
    )

    assert [c["type"] for c in complete["conditions"]] == [
        "SuccessCriteriaMet",
        "Complete",
    ]
    assert [c["type"] for c in failed["conditions"]] == ["FailureTarget", "Failed"]
    assert "completionTime" not in failed
    assert failed["active"] == 0


@pytest.mark.parametrize(
    "previous_image, image, expected_revision",
    [(None, "pkg:v1", 1), ("pkg:v1", "pkg:v1", 1), ("pkg:v1", "pkg:v2", 2)],
    ids=["first", "same-image", "new-image"],
)
def test_cluster_package_revision(previous_image, image, expected_revision):
    cluster_package = {"metadata": {"generation": 1}, "spec": {"image": image}}
    if previous_image:
        cluster_package["status"] = {
            "revision": 1,
            "unpackedHash": image_hash(previous_image),
        }

    status = cluster_package_status(cluster_package, image, [], "2026-01-01T00:00:00Z")

    assert status["revision"] == expected_revision


@pytest.mark.parametrize(
    "registry, expected",
    [
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("localhost:8080", True),
        ("[::1]:5000", True),
        ("quay.io", False),
        ("docker.io", False),
        ("10.0.0.1:5000", False),
    ],
    ids=["ipv4", "ipv4-no-port", "localhost", "ipv6", "quay", "docker-hub", "private"],
)
def test_is_loopback_host(registry, expected):
    assert is_loopback_host(registry) is expected


def test_parse_docker_config_forms():
    token = base64.b64encode(b"user:pa:ss").decode("ascii")
    document = {
        "auths": {
            "127.0.0.1:5000": {"auth": token},
            "https://127.0.0.1:6000/v1/": {"username": "u2", "password": "p2"},
            "127.0.0.1:7000": {"identitytoken": "ignored"},
        }
    }

    assert parse_docker_config(document) == {
        "127.0.0.1:5000": ("user", "pa:ss"),
        "127.0.0.1:6000": ("u2", "p2"),
    }
