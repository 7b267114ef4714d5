# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for reading package images and PackageManifestLock files."""

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest
import yaml

from ansible_collections.pko.airgap.plugins.module_utils.package_image import (
    LOCK_PATH,
    LockedDependency,
    LockedImage,
    PackageImageError,
    choose_platform_manifest,
    parse_lock,
    pin_reference,
    read_layout_files,
)

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def lock(spec, kind="PackageManifestLock"):
    return yaml.safe_dump(
        {
            "apiVersion": "manifests.package-operator.run/v1alpha1",
            "kind": kind,
            "spec": spec,
        }
    ).encode()


def test_parse_lock_images_and_dependencies():
    parsed = parse_lock(
        lock(
            {
                "images": [
                    {
                        "name": "manager",
                        "image": "quay.io/pko/manager:v1",
                        "digest": DIGEST_A,
                    }
                ],
                "dependencies": [
                    {
                        "name": "dep",
                        "image": "quay.io/pko/dep:v2",
                        "digest": DIGEST_B,
                        "version": "v2",
                    }
                ],
            }
        ),
        "pkg:v1",
    )
    assert parsed.images == [LockedImage("manager", "quay.io/pko/manager:v1", DIGEST_A)]
    assert parsed.dependencies == [
        LockedDependency("dep", "quay.io/pko/dep:v2", DIGEST_B, "v2")
    ]


def test_parse_lock_without_dependencies():
    parsed = parse_lock(lock({"images": []}), "pkg:v1")
    assert parsed.dependencies == []


def test_locked_image_reference_keeps_tag():
    assert (
        LockedImage("m", "quay.io/pko/m:v1", DIGEST_A).reference
        == "quay.io/pko/m:v1@" + DIGEST_A
    )


def test_pin_reference_accepts_same_digest():
    assert pin_reference("q.io/m@" + DIGEST_A, DIGEST_A) == "q.io/m@" + DIGEST_A


def test_pin_reference_rejects_other_digest():
    with pytest.raises(
        PackageImageError,
        match="is pinned to %s but its digest field is %s" % (DIGEST_A, DIGEST_B),
    ):
        pin_reference("q.io/m@" + DIGEST_A, DIGEST_B)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"a: [", "package/manifest.lock.yaml in pkg:v1 is not valid YAML"),
        (
            lock({}, kind="PackageManifest"),
            "is not a PackageManifestLock document (kind 'PackageManifest')",
        ),
        (lock({"images": {"a": 1}}), "spec.images must be a list, got dict"),
        (lock({"images": ["x"]}), "spec.images[0] must be a mapping, got 'x'"),
        (
            lock({"images": [{"name": "m", "image": "q.io/m:v1"}]}),
            "spec.images[0] has no 'digest' string (got None)",
        ),
        (
            lock({"images": [{"name": "m", "image": "q.io/M:v1", "digest": DIGEST_A}]}),
            "must be lower case",
        ),
        (
            lock(
                {"images": [{"name": "m", "image": "q.io/m:v1", "digest": "sha256:12"}]}
            ),
            "invalid image reference",
        ),
        (
            lock(
                {
                    "dependencies": [
                        {"name": "d", "image": "q.io/d:v1", "digest": DIGEST_A}
                    ]
                }
            ),
            "spec.dependencies[0] has no 'version' string",
        ),
    ],
    ids=[
        "bad-yaml",
        "wrong-kind",
        "images-not-list",
        "entry-not-mapping",
        "missing-digest",
        "upper-case-image",
        "short-digest",
        "dependency-without-version",
    ],
)
def test_parse_lock_rejects_bad_documents(data, message):
    with pytest.raises(PackageImageError) as caught:
        parse_lock(data, "pkg:v1")
    assert message in str(caught.value)


def test_choose_platform_prefers_linux_amd64():
    raw = json.dumps(
        {
            "manifests": [
                {
                    "digest": DIGEST_B,
                    "platform": {"os": "linux", "architecture": "arm64"},
                },
                {
                    "digest": DIGEST_A,
                    "platform": {"os": "linux", "architecture": "amd64"},
                },
            ]
        }
    ).encode()
    assert choose_platform_manifest(raw) == DIGEST_A


def test_choose_platform_falls_back_to_first():
    raw = json.dumps(
        {
            "manifests": [
                {
                    "digest": DIGEST_B,
                    "platform": {"os": "linux", "architecture": "s390x"},
                }
            ]
        }
    ).encode()
    assert choose_platform_manifest(raw) == DIGEST_B


def test_choose_platform_none_for_manifest():
    assert choose_platform_manifest(json.dumps({"layers": []}).encode()) is None


def test_choose_platform_rejects_empty_index():
    with pytest.raises(PackageImageError, match="lists no manifests"):
        choose_platform_manifest(b'{"manifests": []}')


def tar_layer(entries, compress=True):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    return gzip.compress(data) if compress else data


def write_layout(directory, layers, media_types=None):
    blobs = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as handle:
            handle.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    descriptors = []
    for number, data in enumerate(layers):
        descriptor = put(data)
        descriptor["mediaType"] = (media_types or {}).get(
            number, "application/vnd.oci.image.layer.v1.tar+gzip"
        )
        descriptors.append(descriptor)
    manifest = put(
        json.dumps(
            {"schemaVersion": 2, "config": put(b"{}"), "layers": descriptors}
        ).encode()
    )
    with open(os.path.join(directory, "index.json"), "w") as handle:
        json.dump({"schemaVersion": 2, "manifests": [manifest]}, handle)


def test_read_layout_files_finds_lock(tmp_path):
    write_layout(str(tmp_path), [tar_layer([("package/manifest.lock.yaml", b"x")])])
    assert read_layout_files(str(tmp_path), [LOCK_PATH]) == {LOCK_PATH: b"x"}


def test_read_layout_files_later_layer_wins(tmp_path):
    write_layout(
        str(tmp_path),
        [
            tar_layer([("package/manifest.lock.yaml", b"old")]),
            tar_layer([("./package/manifest.lock.yaml", b"new")]),
        ],
    )
    assert read_layout_files(str(tmp_path), [LOCK_PATH]) == {LOCK_PATH: b"new"}


def test_read_layout_files_whiteout_removes(tmp_path):
    write_layout(
        str(tmp_path),
        [
            tar_layer([("package/manifest.lock.yaml", b"old")]),
            tar_layer([("package/.wh.manifest.lock.yaml", b"")]),
        ],
    )
    assert read_layout_files(str(tmp_path), [LOCK_PATH]) == {}


def test_read_layout_files_opaque_whiteout_removes(tmp_path):
    write_layout(
        str(tmp_path),
        [
            tar_layer([("package/manifest.lock.yaml", b"old")]),
            tar_layer([("package/.wh..wh..opq", b"")]),
        ],
    )
    assert read_layout_files(str(tmp_path), [LOCK_PATH]) == {}


def test_read_layout_files_plain_tar(tmp_path):
    write_layout(
        str(tmp_path),
        [tar_layer([("package/manifest.lock.yaml", b"x")], compress=False)],
        media_types={0: "application/vnd.oci.image.layer.v1.tar"},
    )
    assert read_layout_files(str(tmp_path), [LOCK_PATH]) == {LOCK_PATH: b"x"}


def test_read_layout_files_rejects_zstd(tmp_path):
    write_layout(
        str(tmp_path),
        [b"(\xb5/\xfd"],
        media_types={0: "application/vnd.oci.image.layer.v1.tar+zstd"},
    )
    with pytest.raises(
        PackageImageError,
        match="cannot unpack. Only tar and gzip tar layers are supported.",
    ):
        read_layout_files(str(tmp_path), [LOCK_PATH])


def test_read_layout_files_missing_path(tmp_path):
    write_layout(str(tmp_path), [tar_layer([("other.txt", b"x")])])
    assert read_layout_files(str(tmp_path), [LOCK_PATH]) == {}
