# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks of the local registries and generated images that the mirror tests use."""

import argparse
import base64
import hashlib
import io
import json
import os
import ssl
import subprocess
import gzip
import tarfile
import urllib.error
import urllib.request

import pytest
import yaml

from localenv import __main__ as localenv_main
from localenv.images import push_oci_image, write_oci_image
from localenv.registry import start_registry

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


def fetch(url, context=None, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return response.status, response.read()


def fetch_manifest(registry, repository, reference):
    url = "%s/v2/%s/manifests/%s" % (registry.url, repository, reference)
    return fetch(url, headers={"Accept": MANIFEST_ACCEPT})[1]


def test_seeded_digest_is_reproducible(tmp_path):
    first = write_oci_image(str(tmp_path / "a"), "v1", layer_sizes=[2048], seed=7)
    second = write_oci_image(str(tmp_path / "b"), "v1", layer_sizes=[2048], seed=7)
    assert first.digest == second.digest


def test_unseeded_digests_differ(tmp_path):
    first = write_oci_image(str(tmp_path / "a"), "v1", layer_sizes=[64])
    second = write_oci_image(str(tmp_path / "b"), "v1", layer_sizes=[64])
    assert first.digest != second.digest


def test_image_has_two_platforms(tmp_path):
    image = write_oci_image(str(tmp_path / "a"), "v1", seed=1)
    assert sorted(image.manifests) == ["linux/amd64", "linux/arm64"]


def test_pushed_index_digest_kept(seeded_source):
    manager = seeded_source.release.images["package-operator-manager"]
    raw = fetch_manifest(
        seeded_source.registry, "package-operator/package-operator-manager", "v1.18.2"
    )
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == manager.digest


def test_pushed_index_lists_platforms(seeded_source):
    raw = fetch_manifest(
        seeded_source.registry, "package-operator/remote-phase-manager", "v1.18.2"
    )
    platforms = sorted(
        "%s/%s" % (entry["platform"]["os"], entry["platform"]["architecture"])
        for entry in json.loads(raw)["manifests"]
    )
    assert platforms == ["linux/amd64", "linux/arm64"]


def package_files(registry, version):
    index = json.loads(
        fetch_manifest(registry, "package-operator/package-operator-package", version)
    )
    digest = index["manifests"][0]["digest"]
    manifest = json.loads(
        fetch_manifest(registry, "package-operator/package-operator-package", digest)
    )
    layer = manifest["layers"][-1]["digest"]
    blob = fetch(
        "%s/v2/package-operator/package-operator-package/blobs/%s"
        % (registry.url, layer)
    )[1]
    files = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as archive:
        for member in archive.getmembers():
            if member.isfile():
                files[member.name] = archive.extractfile(member).read()
    return files


def test_package_lock_pins_pushed_digests(seeded_source):
    release = seeded_source.release
    lock = yaml.safe_load(
        package_files(seeded_source.registry, "v1.18.2")["package/manifest.lock.yaml"]
    )
    pinned = {entry["image"]: entry["digest"] for entry in lock["spec"]["images"]}
    assert pinned == {
        "quay.io/package-operator/package-operator-manager:v1.18.2": release.images[
            "package-operator-manager"
        ].digest,
        "quay.io/package-operator/remote-phase-manager:v1.18.2": release.images[
            "remote-phase-manager"
        ].digest,
    }


def test_package_contains_expected_files(seeded_source):
    files = package_files(seeded_source.registry, "v1.18.2")
    assert sorted(files) == [
        "package/crds/clusterpackages.crd.yaml",
        "package/deploy/package-operator-manager.yaml.gotmpl",
        "package/manifest.lock.yaml",
        "package/manifest.yaml",
    ]


def test_package_manifest_fields(seeded_source):
    files = package_files(seeded_source.registry, "v1.18.2")
    manifest = yaml.safe_load(files["package/manifest.yaml"])
    assert manifest["kind"] == "PackageManifest"
    assert manifest["metadata"]["name"] == "package-operator"
    assert manifest["spec"]["scopes"] == ["Cluster"]
    assert [image["name"] for image in manifest["spec"]["images"]] == [
        "package-operator-manager",
        "remote-phase-manager",
    ]


def test_template_has_image_placeholder(seeded_source):
    files = package_files(seeded_source.registry, "v1.18.2")
    template = files["package/deploy/package-operator-manager.yaml.gotmpl"].decode()
    assert 'image: "{{.images.package-operator-manager}}"' in template


def test_upgrade_version_differs(seeded_source):
    old = seeded_source.releases["v1.18.2"].images["package-operator-manager"].digest
    new = seeded_source.releases["v1.18.3"].images["package-operator-manager"].digest
    assert old != new


def test_dependency_listed_in_lock(dependency_source):
    release = dependency_source.release
    dependency = release.dependencies[0]
    assert release.lock["spec"]["dependencies"] == [
        {
            "name": "example-dependency",
            "image": "quay.io/package-operator/example-dependency-package:v1.0.0",
            "digest": dependency.package.digest,
            "version": "v1.0.0",
        }
    ]


def test_registries_conf_redirects_quay(seeded_source):
    result = subprocess.run(
        [
            "skopeo",
            "--registries-conf=" + seeded_source.registries_conf,
            "inspect",
            "--raw",
            "docker://quay.io/package-operator/package-operator-package:v1.18.2",
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "sha256:" + hashlib.sha256(result.stdout).hexdigest()
        == seeded_source.release.package.digest
    )


def test_auth_registry_rejects_anonymous(auth_registry):
    with pytest.raises(urllib.error.HTTPError) as caught:
        fetch(auth_registry.url + "/v2/_catalog")
    assert caught.value.code == 401


def test_auth_registry_accepts_password(auth_registry):
    token = base64.b64encode(
        ("%s:%s" % (auth_registry.username, auth_registry.password)).encode()
    ).decode()
    status, _body = fetch(
        auth_registry.url + "/v2/_catalog", headers={"Authorization": "Basic " + token}
    )
    assert status == 200


def test_tls_registry_verifies_with_ca(tls_registry):
    context = ssl.create_default_context(
        cafile=os.path.join(tls_registry.cert_dir, "ca.crt")
    )
    status, _body = fetch(tls_registry.url + "/v2/", context=context)
    assert status == 200


def test_tls_registry_rejects_unknown_ca(tls_registry):
    with pytest.raises(urllib.error.URLError) as caught:
        fetch(tls_registry.url + "/v2/", context=ssl.create_default_context())
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value.reason)


def test_restart_keeps_port_and_storage(tmp_path, skopeo_env):
    registry = start_registry(str(tmp_path), "restart")
    try:
        image = write_oci_image(str(tmp_path / "layout"), "v1", seed=3)
        push_oci_image(image, registry.address + "/r/x:v1")
        old_pid, old_port = registry.pid, registry.port
        registry.restart()
        assert registry.port == old_port
        assert registry.pid != old_pid
        raw = fetch_manifest(registry, "r/x", "v1")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == image.digest
    finally:
        registry.stop()
    assert not registry.running


def test_skopeo_cache_kept_in_temp(skopeo_env, seeded_source):
    cache = os.path.join(
        skopeo_env["XDG_DATA_HOME"], "containers", "cache", "blob-info-cache-v1.boltdb"
    )
    assert os.path.exists(cache)


@pytest.mark.parametrize(
    "first_line, kept",
    [
        pytest.param(localenv_main.INTEGRATION_CONFIG_HEADER, False, id="generated"),
        pytest.param("# written by hand\n", True, id="hand-written"),
    ],
)
def test_down_keeps_hand_written_config(tmp_path, first_line, kept):
    config = tmp_path / "integration_config.yml"
    config.write_text(first_line + "pko_airgap_test_kubeconfig: /k\n")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"integration_config": str(config)}))

    assert localenv_main.down(argparse.Namespace(state_dir=str(tmp_path))) == 0

    assert config.exists() == kept
    assert not state.exists()
