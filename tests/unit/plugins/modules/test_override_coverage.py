# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pko.airgap.plugins.module_utils.coverage_preflight import (
    read_lock_images,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_rewrite import (
    rewrite_manifest,
)
from ansible_collections.pko.airgap.plugins.module_utils.package_image import (
    PackageImageError,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    SkopeoExecutableError,
)
from ansible_collections.pko.airgap.plugins.modules import override_coverage

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
FIXTURE = os.path.join(TESTS_DIR, "fixtures", "pko-v1.18.2", "self-bootstrap-job.yaml")
MIRROR = "127.0.0.1:5000/pko/"
OVERRIDES = "quay.io/package-operator/=" + MIRROR
VERSION = "v1.18.2"
MANAGER_DIGEST = "sha256:" + "a" * 64
REMOTE_DIGEST = "sha256:" + "b" * 64
PACKAGE = MIRROR + "package-operator-package:" + VERSION
LOCK = """\
apiVersion: manifests.package-operator.run/v1alpha1
kind: PackageManifestLock
metadata:
  creationTimestamp: null
spec:
  images:
  - name: package-operator-manager
    image: quay.io/package-operator/package-operator-manager:%s
    digest: %s
  - name: remote-phase-manager
    image: quay.io/package-operator/remote-phase-manager:%s
    digest: %s
""" % (VERSION, MANAGER_DIGEST, VERSION, REMOTE_DIGEST)


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue())


def write_layout(directory, files):
    """Write a one-image OCI layout whose single layer contains ``files``."""
    blobs = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data):
        digest = _digest(data)
        with open(os.path.join(blobs, digest.split(":")[1]), "wb") as handle:
            handle.write(data)
        return digest

    layer = _layer(files)
    config = b"{}"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": put(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": put(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": put(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "image"},
            }
        ],
    }
    with open(os.path.join(directory, "index.json"), "w") as handle:
        json.dump(index, handle)
    with open(os.path.join(directory, "oci-layout"), "w") as handle:
        json.dump({"imageLayoutVersion": "1.0.0"}, handle)


PLATFORM_DIGEST = "sha256:" + "c" * 64
PACKAGE_INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "manifests": [
            {
                "digest": "sha256:" + "d" * 64,
                "platform": {"os": "linux", "architecture": "arm64"},
            },
            {
                "digest": PLATFORM_DIGEST,
                "platform": {"os": "linux", "architecture": "amd64"},
            },
        ],
    }
).encode()


class FakeSkopeo:
    """Stands in for module_utils.skopeo.Skopeo over an in-memory mirror."""

    instances = []

    def __init__(self, references=None, lock=LOCK, **options):
        self.options = options
        self.references = {
            MIRROR + "package-operator-manager:" + VERSION: b"{}",
            PACKAGE: PACKAGE_INDEX,
            MIRROR + "package-operator-manager@" + MANAGER_DIGEST: b"{}",
            MIRROR + "remote-phase-manager@" + REMOTE_DIGEST: b"{}",
        }
        if references is not None:
            self.references = references
        self.lock = lock
        self.inspected = []
        self.pulled = []
        FakeSkopeo.instances.append(self)

    def inspect_raw(self, reference, side="source"):
        self.inspected.append((reference, side))
        return self.references.get(reference)

    def inspect_digest(self, reference, side="source"):
        raw = self.inspect_raw(reference, side)
        return None if raw is None else _digest(raw)

    def pull_oci_layout(self, reference, directory):
        self.pulled.append(reference)
        files = (
            {}
            if self.lock is None
            else {"package/manifest.lock.yaml": self.lock.encode()}
        )
        write_layout(directory, files)


class ModuleExit(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


def run_module(monkeypatch, params, skopeo_options=None):
    """Run main() with FakeSkopeo and return the result of exit_json or fail_json."""
    warnings = []
    FakeSkopeo.instances = []

    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs.update(msg=msg, failed=True)
        raise ModuleExit(kwargs)

    def factory(**options):
        return FakeSkopeo(**dict(skopeo_options or {}, **options))

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(
        basic.AnsibleModule, "warn", lambda self, message: warnings.append(message)
    )
    monkeypatch.setattr(override_coverage, "Skopeo", factory)
    with patch_module_args(params):
        with pytest.raises(ModuleExit) as raised:
            override_coverage.main()
    result = raised.value.result
    result["warnings"] = warnings
    return result


@pytest.fixture
def rewritten_job(tmp_path):
    with open(FIXTURE, encoding="utf-8") as handle:
        text = rewrite_manifest(handle.read(), OVERRIDES).text
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_covered_bootstrap_passes(rewritten_job, monkeypatch):
    result = run_module(monkeypatch, {"src": rewritten_job, "dest_tls_verify": False})

    assert result.get("failed") is None
    assert result["changed"] is False
    assert [image["status"] for image in result["images"]] == ["covered"] * 4
    assert result["uncovered"] == []
    assert result["overrides"] == OVERRIDES
    assert result["warnings"] == []


def test_lookups_use_mirror_options(rewritten_job, monkeypatch, tmp_path):
    authfile = tmp_path / "auth.json"
    authfile.write_text("{}")
    run_module(
        monkeypatch,
        {
            "src": rewritten_job,
            "dest_tls_verify": False,
            "dest_cert_dir": "/etc/mirror-certs",
            "dest_username": "user",
            "dest_password": "secret",
            "authfile": str(authfile),
        },
    )

    skopeo = FakeSkopeo.instances[0]
    assert skopeo.options["source"] == skopeo.options["destination"]
    assert skopeo.options["source"].tls_verify is False
    assert skopeo.options["source"].cert_dir == "/etc/mirror-certs"
    assert skopeo.options["source"].username == "user"
    assert skopeo.options["authfile"] == str(authfile)
    assert {side for reference, side in skopeo.inspected} == {"source"}
    assert all(reference.startswith(MIRROR) for reference, side in skopeo.inspected)
    assert skopeo.pulled == [MIRROR + "package-operator-package@" + PLATFORM_DIGEST]


def test_missing_lock_image_fails(rewritten_job, monkeypatch):
    references = dict(FakeSkopeo().references)
    del references[MIRROR + "remote-phase-manager@" + REMOTE_DIGEST]

    result = run_module(monkeypatch, {"src": rewritten_job}, {"references": references})

    assert result["failed"] is True
    assert result["msg"].startswith(
        "1 of 4 images that the bootstrap pulls are not available from the mirror"
    )
    assert (
        "lock file image remote-phase-manager of package %s" % PACKAGE in result["msg"]
    )
    assert [image["status"] for image in result["uncovered"]] == ["missing"]


def test_unrewritten_manifest_fails(tmp_path, monkeypatch):
    path = tmp_path / "job.yaml"
    with open(FIXTURE, encoding="utf-8") as handle:
        path.write_text(handle.read(), encoding="utf-8")

    result = run_module(monkeypatch, {"src": str(path), "overrides": OVERRIDES})

    assert result["failed"] is True
    assert "Rewrite the manifest first" in result["msg"]
    assert result["uncovered"][0]["status"] == "not_rewritten"


def test_conflicting_overrides_fail(rewritten_job, monkeypatch):
    result = run_module(
        monkeypatch, {"src": rewritten_job, "overrides": "quay.io/=other.example.com/"}
    )

    assert result["failed"] is True
    assert "PKO uses the value in the manifest" in result["msg"]


def test_equal_overrides_as_list_pass(rewritten_job, monkeypatch):
    rules = [{"from": "quay.io/package-operator/", "to": MIRROR}]

    result = run_module(monkeypatch, {"src": rewritten_job, "overrides": rules})

    assert result.get("failed") is None


def test_unused_rule_warns(tmp_path, monkeypatch):
    with open(FIXTURE, encoding="utf-8") as handle:
        text = rewrite_manifest(
            handle.read(), OVERRIDES + ",ghcr.io/=127.0.0.1:5000/ghcr/"
        ).text
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")

    result = run_module(monkeypatch, {"src": str(path)})

    assert result["unused_rules"] == ["ghcr.io/=127.0.0.1:5000/ghcr/"]
    assert (
        "rule 'ghcr.io/=127.0.0.1:5000/ghcr/' matches no image that the bootstrap pulls."
        in result["warnings"]
    )


def test_lock_read_error_fails(rewritten_job, monkeypatch):
    result = run_module(
        monkeypatch, {"src": rewritten_job}, {"lock": "kind: Something\n"}
    )

    assert result["failed"] is True
    assert "reading the lock file of package %s failed" % PACKAGE in result["msg"]
    assert "PackageManifestLock" in result["msg"]


def test_content_input(monkeypatch):
    with open(FIXTURE, encoding="utf-8") as handle:
        text = rewrite_manifest(handle.read(), OVERRIDES).text

    result = run_module(monkeypatch, {"content": text})

    assert result.get("failed") is None


@pytest.mark.parametrize(
    "params, fragment",
    [
        pytest.param(
            {"content": "a: [\n"},
            "content: line 2, column 1: not valid YAML",
            id="not-yaml",
        ),
        pytest.param(
            {"src": "/nonexistent/job.yaml"},
            "src /nonexistent/job.yaml does not exist",
            id="missing-src",
        ),
        pytest.param(
            {"content": "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"},
            "sets no PKO_IMAGE_PREFIX_OVERRIDES, and overrides is not given",
            id="no-rules",
        ),
        pytest.param(
            {
                "content": "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n",
                "overrides": "bad",
            },
            "entry 1 'bad' has no '='",
            id="bad-rules",
        ),
        pytest.param(
            {"content": "x", "dest_username": "u"},
            "parameters are required together",
            id="half-credentials",
        ),
    ],
)
def test_input_errors(params, fragment, monkeypatch):
    result = run_module(monkeypatch, params)

    assert result["failed"] is True
    assert fragment in result["msg"]


def test_password_never_in_result(rewritten_job, monkeypatch):
    references = dict(FakeSkopeo().references)
    del references[PACKAGE]

    result = run_module(
        monkeypatch,
        {"src": rewritten_job, "dest_username": "user", "dest_password": "s3cr3t-pw"},
        {"references": references},
    )

    assert result["failed"] is True
    assert "s3cr3t-pw" not in json.dumps(result)


def test_missing_skopeo_fails_cleanly(rewritten_job, monkeypatch):
    def missing(**options):
        raise SkopeoExecutableError("skopeo executable 'skopeo' was not found on PATH")

    monkeypatch.setattr(
        basic.AnsibleModule, "exit_json", lambda self, **kw: pytest.fail("exit_json")
    )

    def fail_json(self, msg, **kwargs):
        raise ModuleExit(dict(kwargs, msg=msg, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(override_coverage, "Skopeo", missing)
    with patch_module_args({"src": rewritten_job}):
        with pytest.raises(ModuleExit) as raised:
            override_coverage.main()

    assert "was not found on PATH" in raised.value.result["msg"]


def test_read_lock_images_lists_dependencies(tmp_path):
    lock = LOCK + (
        "  dependencies:\n"
        "  - name: cert-manager\n"
        "    image: quay.io/package-operator/cert-manager-package:v1\n"
        "    digest: sha256:%s\n"
        "    version: v1.0.0\n" % ("e" * 64)
    )
    skopeo = FakeSkopeo(lock=lock)

    entries = read_lock_images(skopeo, PACKAGE, tmpdir=str(tmp_path))

    assert [entry["name"] for entry in entries] == [
        "package-operator-manager",
        "remote-phase-manager",
        "cert-manager",
    ]
    assert entries[2]["dependency"] is True
    assert os.listdir(str(tmp_path)) == []


def test_read_lock_images_without_lock_file(tmp_path):
    assert read_lock_images(FakeSkopeo(lock=None), PACKAGE, tmpdir=str(tmp_path)) == []


def test_read_lock_images_missing_package():
    with pytest.raises(PackageImageError, match="is not in the mirror"):
        read_lock_images(FakeSkopeo(references={}), PACKAGE)
