# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the mirror engine, with an in-memory stand-in for skopeo."""

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import time

import pytest
import yaml

from ansible_collections.pko.airgap.plugins.module_utils.mirror import (
    COPIED,
    DIGEST_MISMATCH,
    FAILED,
    SKIPPED,
    WOULD_COPY,
    Mirror,
    MirrorInputError,
    MirrorItem,
    MirrorSettings,
    format_bytes,
    manifest_size,
    plan_items,
    write_json_atomic,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixMatcher,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    DESTINATION,
    SOURCE,
    TRANSIENT,
    UNAUTHORIZED,
    SkopeoError,
)

OVERRIDES = "quay.io/pko/=mirror.test/pko/"
MATCHER = PrefixMatcher(OVERRIDES)


def digest_of(raw):
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def single_manifest(layer_size=100, config_size=10, salt="a"):
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"digest": "sha256:" + salt * 64, "size": config_size},
            "layers": [{"digest": "sha256:" + "f" * 63 + salt, "size": layer_size}],
        }
    ).encode()


def index_of(*children):
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"digest": digest_of(child), "size": len(child), "platform": platform}
                for child, platform in zip(
                    children,
                    [
                        {"os": "linux", "architecture": "amd64"},
                        {"os": "linux", "architecture": "arm64"},
                    ],
                )
            ],
        }
    ).encode()


def write_package_layout(directory, files):
    """Write a one-platform OCI layout whose single layer contains ``files``."""
    blobs = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as handle:
            handle.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    layer = put(gzip.compress(raw.getvalue()))
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    config = put(b"{}")
    manifest = put(
        json.dumps({"schemaVersion": 2, "config": config, "layers": [layer]}).encode()
    )
    with open(os.path.join(directory, "index.json"), "w") as handle:
        json.dump({"schemaVersion": 2, "manifests": [manifest]}, handle)


def lock_document(images=(), dependencies=()):
    return yaml.safe_dump(
        {
            "apiVersion": "manifests.package-operator.run/v1alpha1",
            "kind": "PackageManifestLock",
            "spec": {"images": list(images), "dependencies": list(dependencies)},
        }
    ).encode()


class FakeSkopeo:
    """Registries as dicts: source raw manifests by reference, destination digests."""

    def __init__(self, source=None, destination=None, packages=None):
        self.source = dict(source or {})
        self.destination = dict(destination or {})
        self.packages = dict(packages or {})
        self.errors = {}
        self.calls = []
        self.copy_result = {}
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        self.copy_delay = 0.0

    def fail(self, operation, reference, *errors):
        self.errors[(operation, reference)] = list(errors)

    def _maybe_fail(self, operation, reference):
        queued = self.errors.get((operation, reference))
        if queued:
            raise queued.pop(0)

    def inspect_raw(self, reference, side=SOURCE):
        self.calls.append(("inspect_raw", reference, side))
        self._maybe_fail("inspect_raw", reference)
        return self.source.get(reference)

    def inspect_digest(self, reference, side=SOURCE):
        self.calls.append(("inspect_digest", reference, side))
        self._maybe_fail("inspect_digest", reference)
        return self.destination.get(reference)

    def copy(self, source, destination):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.copy_delay)
            self.calls.append(("copy", source, destination))
            self._maybe_fail("copy", source)
            self.destination[destination] = self.copy_result.get(
                source, digest_of(self.source[source])
            )
        finally:
            with self.lock:
                self.active -= 1

    def pull_oci_layout(self, reference, directory):
        self.calls.append(("pull", reference))
        write_package_layout(directory, self.packages.get(reference, {}))

    def count(self, operation):
        return sum(1 for call in self.calls if call[0] == operation)


def make_mirror(skopeo, **settings):
    sleeps = []
    mirror = Mirror(
        skopeo,
        MirrorSettings(**settings),
        MATCHER,
        progress=None,
        sleep=sleeps.append,
    )
    return mirror, sleeps


IMAGE = single_manifest()
IMAGE_DIGEST = digest_of(IMAGE)


# plan_items


def test_plan_bare_reference_uses_override():
    assert plan_items(["quay.io/pko/manager:v1"], MATCHER) == [
        MirrorItem("quay.io/pko/manager:v1", "mirror.test/pko/manager:v1")
    ]


def test_plan_pair_keeps_dest():
    items = plan_items(
        [{"src": "quay.io/pko/a:v1", "dest": "other.test/x/a:v2"}], PrefixMatcher(None)
    )
    assert items == [MirrorItem("quay.io/pko/a:v1", "other.test/x/a:v2")]


def test_plan_package_flag_kept():
    items = plan_items([{"src": "quay.io/pko/a:v1", "package": False}], MATCHER)
    assert items[0].package is False


def test_plan_merges_duplicates():
    items = plan_items(["quay.io/pko/a:v1", {"src": "quay.io/pko/a:v1"}], MATCHER)
    assert len(items) == 1


def test_plan_none_is_empty():
    assert plan_items(None, MATCHER) == []


PLAN_ERRORS = [
    (
        ["quay.io/pko/a:v1"],
        None,
        "images[0] 'quay.io/pko/a:v1' has no destination because no overrides are "
        "set. Set overrides (for example quay.io/package-operator/=mirror.example.com/pko/) "
        "or write the entry as {src: quay.io/pko/a:v1, dest: <mirror reference>}.",
    ),
    (
        ["docker.io/library/nginx:1"],
        OVERRIDES,
        "images[0] 'docker.io/library/nginx:1' matches no override rule "
        "(quay.io/pko/=mirror.test/pko/). Add an override whose 'from' is a prefix of "
        "it, or write the entry as {src: ..., dest: ...}.",
    ),
    (
        [{"src": "quay.io/pko/a:v1", "to": "x"}],
        OVERRIDES,
        "images[0] has unknown keys to. Use src, dest and package.",
    ),
    (
        [{"dest": "mirror.test/a:v1"}],
        OVERRIDES,
        "images[0] {'dest': 'mirror.test/a:v1'} needs a 'src' image reference string",
    ),
    (
        [{"src": "quay.io/pko/a:v1", "package": "yes"}],
        OVERRIDES,
        "images[0]: 'package' must be true or false, got 'yes'",
    ),
    (
        [42],
        OVERRIDES,
        "images[0] must be an image reference or a {src, dest} mapping, got int 42",
    ),
    (
        "quay.io/pko/a:v1",
        OVERRIDES,
        "images must be a list of image references or {src, dest} mappings, got str",
    ),
    (
        [{"src": "quay.io/pko/a:v1", "dest": "quay.io/pko/a:v1"}],
        OVERRIDES,
        "images[0]: source and destination are the same image 'quay.io/pko/a:v1'. "
        "Point dest or the override at the mirror registry.",
    ),
    (
        [{"src": "quay.io/pko/a:v1", "dest": "m.test/a@sha256:" + "b" * 64}],
        OVERRIDES,
        "images[0]: dest 'm.test/a@sha256:%s' is pinned to a digest that the source "
        "'quay.io/pko/a:v1' does not pin. Give dest a tag, or no tag and no digest."
        % ("b" * 64),
    ),
]


@pytest.mark.parametrize(
    "images, overrides, message",
    PLAN_ERRORS,
    ids=[
        "no-overrides",
        "no-rule-matches",
        "unknown-key",
        "missing-src",
        "package-not-bool",
        "entry-not-string",
        "images-not-list",
        "same-image",
        "dest-digest-without-source-digest",
    ],
)
def test_plan_rejects_bad_input(images, overrides, message):
    with pytest.raises(MirrorInputError) as caught:
        plan_items(images, PrefixMatcher(overrides))
    assert str(caught.value) == message


def test_plan_invalid_reference_names_entry():
    with pytest.raises(MirrorInputError) as caught:
        plan_items(["quay.io/pko/Bad:v1"], MATCHER)
    assert str(caught.value).startswith(
        "images[0] src: invalid image reference 'quay.io/pko/Bad:v1'"
    )


# MirrorItem references


def test_item_tag_and_digest_copied_by_digest():
    item = MirrorItem(
        "quay.io/pko/a:v1@" + IMAGE_DIGEST, "mirror.test/pko/a:v1@" + IMAGE_DIGEST
    )
    assert item.source_copy_reference == "quay.io/pko/a@" + IMAGE_DIGEST


def test_item_tag_and_digest_dest_keeps_tag():
    item = MirrorItem(
        "quay.io/pko/a:v1@" + IMAGE_DIGEST, "mirror.test/pko/a:v1@" + IMAGE_DIGEST
    )
    assert item.destination_copy_reference == "mirror.test/pko/a:v1"


def test_item_digest_only_dest():
    item = MirrorItem(
        "quay.io/pko/a@" + IMAGE_DIGEST, "mirror.test/pko/a@" + IMAGE_DIGEST
    )
    assert item.destination_copy_reference == "mirror.test/pko/a@" + IMAGE_DIGEST


# Digest compare and copy


def test_missing_image_is_copied():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    mirror, _sleeps = make_mirror(skopeo)
    result = mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.images[0].action == COPIED
    assert skopeo.calls.count(("copy", "quay.io/pko/a:v1", "mirror.test/pko/a:v1")) == 1
    assert result.changed


def test_equal_digest_is_skipped():
    skopeo = FakeSkopeo(
        source={"quay.io/pko/a:v1": IMAGE},
        destination={"mirror.test/pko/a:v1": IMAGE_DIGEST},
    )
    mirror, _sleeps = make_mirror(skopeo)
    result = mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.images[0].action == SKIPPED
    assert skopeo.count("copy") == 0
    assert not result.changed
    assert result.images[0].bytes == 0


def test_different_digest_is_copied():
    skopeo = FakeSkopeo(
        source={"quay.io/pko/a:v1": IMAGE},
        destination={"mirror.test/pko/a:v1": "sha256:" + "0" * 64},
    )
    mirror, _sleeps = make_mirror(skopeo)
    result = mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.images[0].action == COPIED


def test_destination_checked_on_destination_side():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    make_mirror(skopeo)[0].run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert ("inspect_digest", "mirror.test/pko/a:v1", DESTINATION) in skopeo.calls


def test_pinned_source_not_inspected_when_present():
    source = "quay.io/pko/a:v1@" + IMAGE_DIGEST
    skopeo = FakeSkopeo(destination={"mirror.test/pko/a:v1": IMAGE_DIGEST})
    result = make_mirror(skopeo)[0].run(plan_items([source], MATCHER))
    assert result.images[0].action == SKIPPED
    assert skopeo.count("inspect_raw") == 0


def test_pinned_source_copied_by_digest_to_tag():
    source = "quay.io/pko/a:v1@" + IMAGE_DIGEST
    skopeo = FakeSkopeo(source={"quay.io/pko/a@" + IMAGE_DIGEST: IMAGE})
    result = make_mirror(skopeo)[0].run(plan_items([source], MATCHER))
    assert (
        "copy",
        "quay.io/pko/a@" + IMAGE_DIGEST,
        "mirror.test/pko/a:v1",
    ) in skopeo.calls
    assert result.images[0].action == COPIED


def test_same_destination_tag_copied_once():
    listed = "quay.io/pko/a:v1"
    pinned = "quay.io/pko/a:v1@" + IMAGE_DIGEST
    skopeo = FakeSkopeo(source={listed: IMAGE, "quay.io/pko/a@" + IMAGE_DIGEST: IMAGE})
    skopeo.copy_delay = 0.05
    result = make_mirror(skopeo, parallel=4)[0].run(
        plan_items([listed, pinned], MATCHER)
    )
    assert skopeo.max_active == 1
    assert skopeo.count("copy") == 1
    assert [image.action for image in result.images] == [COPIED, SKIPPED]


def test_distinct_destinations_run_in_parallel():
    sources = {"quay.io/pko/%s:v1" % name: IMAGE for name in "abcd"}
    skopeo = FakeSkopeo(source=sources)
    skopeo.copy_delay = 0.05
    make_mirror(skopeo, parallel=4)[0].run(plan_items(sorted(sources), MATCHER))
    assert skopeo.max_active > 1


def test_check_mode_copies_nothing():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    mirror, _sleeps = make_mirror(skopeo, check_mode=True)
    result = mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.images[0].action == WOULD_COPY
    assert skopeo.count("copy") == 0
    assert result.changed
    assert result.as_dict()["counts"] == {
        "copied": 0,
        "skipped": 0,
        "failed": 0,
        "would_copy": 1,
    }


def test_check_mode_skip_unchanged():
    skopeo = FakeSkopeo(
        source={"quay.io/pko/a:v1": IMAGE},
        destination={"mirror.test/pko/a:v1": IMAGE_DIGEST},
    )
    result = make_mirror(skopeo, check_mode=True)[0].run(
        plan_items(["quay.io/pko/a:v1"], MATCHER)
    )
    assert not result.changed


def test_source_not_found_fails_image():
    skopeo = FakeSkopeo()
    result = make_mirror(skopeo)[0].run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    image = result.images[0]
    assert image.action == FAILED
    assert image.error_kind == "not_found"
    assert image.error == (
        "source image quay.io/pko/a:v1 was not found (manifest unknown). Check the "
        "reference, the credentials and registries_conf."
    )


def test_digest_mismatch_fails_without_retry():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    skopeo.copy_result["quay.io/pko/a:v1"] = "sha256:" + "9" * 64
    result = make_mirror(skopeo)[0].run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    image = result.images[0]
    assert image.action == FAILED
    assert image.error_kind == DIGEST_MISMATCH
    assert skopeo.count("copy") == 1
    assert image.error == (
        "digest mismatch: the source was %s when checked, but the destination has "
        "sha256:%s after the copy. The source tag probably moved during the copy. "
        "Re-run to mirror the current image." % (IMAGE_DIGEST, "9" * 64)
    )


def test_before_copy_hook_gets_digest():
    seen = []
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    mirror = Mirror(
        skopeo,
        MirrorSettings(),
        MATCHER,
        before_copy=lambda item, digest: seen.append(digest),
    )
    mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert seen == [IMAGE_DIGEST]


class RecordingInspector:
    """Manifest checks kept apart from the fake skopeo, to see which one is used."""

    def __init__(self, source, destination):
        self.source = source
        self.destination = destination
        self.calls = []

    def inspect_raw(self, reference, side=SOURCE):
        self.calls.append(("inspect_raw", reference, side))
        return self.source.get(reference)

    def inspect_digest(self, reference, side=SOURCE):
        self.calls.append(("inspect_digest", reference, side))
        return self.destination.get(reference)


def test_inspector_used_for_checks():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    inspector = RecordingInspector(
        {"quay.io/pko/a:v1": IMAGE}, {"mirror.test/pko/a:v1": IMAGE_DIGEST}
    )
    mirror = Mirror(skopeo, MirrorSettings(), MATCHER, inspector=inspector)
    result = mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.images[0].action == SKIPPED
    assert inspector.calls == [
        ("inspect_raw", "quay.io/pko/a:v1", SOURCE),
        ("inspect_digest", "mirror.test/pko/a:v1", DESTINATION),
    ]
    assert skopeo.calls == []


def test_inspector_verifies_after_skopeo_copy():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    inspector = RecordingInspector({"quay.io/pko/a:v1": IMAGE}, {})
    original_copy = skopeo.copy

    def copy_and_publish(source, destination):
        original_copy(source, destination)
        inspector.destination[destination] = skopeo.destination[destination]

    skopeo.copy = copy_and_publish
    mirror = Mirror(skopeo, MirrorSettings(), MATCHER, inspector=inspector)
    result = mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.images[0].action == COPIED
    assert skopeo.count("copy") == 1
    assert (
        inspector.calls.count(("inspect_digest", "mirror.test/pko/a:v1", DESTINATION))
        == 2
    )


# Retry policy


def transient():
    return SkopeoError("skopeo copy failed (rc=1): connection refused", kind=TRANSIENT)


def test_transient_error_retried_with_backoff():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    skopeo.fail("copy", "quay.io/pko/a:v1", transient(), transient())
    mirror, sleeps = make_mirror(skopeo, retries=3, retry_delay=1.5)
    result = mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.images[0].action == COPIED
    assert sleeps == [1.5, 3.0]
    assert skopeo.count("copy") == 3


def test_retries_exhausted_fails_image():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    skopeo.fail("copy", "quay.io/pko/a:v1", *[transient() for _attempt in range(5)])
    mirror, sleeps = make_mirror(skopeo, retries=2, retry_delay=1.0)
    result = mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.images[0].action == FAILED
    assert result.images[0].error_kind == TRANSIENT
    assert sleeps == [1.0, 2.0]
    assert skopeo.count("copy") == 3


def test_zero_retries_means_one_attempt():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    skopeo.fail("copy", "quay.io/pko/a:v1", transient())
    mirror, sleeps = make_mirror(skopeo, retries=0)
    mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert skopeo.count("copy") == 1
    assert sleeps == []


@pytest.mark.parametrize("kind", [UNAUTHORIZED, "not_found", "tls", "other"], ids=str)
def test_permanent_error_not_retried(kind):
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    skopeo.fail(
        "copy",
        "quay.io/pko/a:v1",
        SkopeoError("denied", kind=kind, cmd=["skopeo"], rc=1),
    )
    mirror, sleeps = make_mirror(skopeo, retries=3)
    result = mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert skopeo.count("copy") == 1
    assert sleeps == []
    assert result.images[0].error_kind == kind


def test_transient_inspect_retried():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    skopeo.fail("inspect_digest", "mirror.test/pko/a:v1", transient())
    mirror, sleeps = make_mirror(skopeo, retry_delay=0.5)
    result = mirror.run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.images[0].action == COPIED
    assert sleeps == [0.5]


def test_failed_image_carries_command():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    error = SkopeoError(
        "no", kind=UNAUTHORIZED, cmd=["skopeo", "copy"], rc=1, stderr="err"
    )
    skopeo.fail("copy", "quay.io/pko/a:v1", error)
    image = (
        make_mirror(skopeo)[0].run(plan_items(["quay.io/pko/a:v1"], MATCHER)).images[0]
    )
    assert image.cmd == ["skopeo", "copy"]
    assert image.rc == 1
    assert image.stderr == "err"


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"parallel": 0}, "parallel must be a whole number of at least 1, got 0"),
        ({"retries": -1}, "retries must be a whole number of 0 or more, got -1"),
        ({"retry_delay": -2.0}, "retry_delay must be 0 or more seconds, got -2.0"),
    ],
    ids=["parallel-zero", "retries-negative", "delay-negative"],
)
def test_settings_reject_bad_values(settings, message):
    with pytest.raises(MirrorInputError) as caught:
        MirrorSettings(**settings)
    assert str(caught.value) == message


# Partial failure and result


def test_partial_failure_finishes_others():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE, "quay.io/pko/c:v1": IMAGE})
    result = make_mirror(skopeo)[0].run(
        plan_items(
            ["quay.io/pko/a:v1", "quay.io/pko/b:v1", "quay.io/pko/c:v1"], MATCHER
        )
    )
    assert [image.action for image in result.images] == [COPIED, FAILED, COPIED]
    assert result.failure_message() == (
        "image mirror failed for 1 of 3 images (2 done, 0 closure errors): "
        "quay.io/pko/b:v1 -> mirror.test/pko/b:v1: source image quay.io/pko/b:v1 was "
        "not found (manifest unknown). Check the reference, the credentials and "
        "registries_conf."
    )


def test_success_has_no_failure_message():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    result = make_mirror(skopeo)[0].run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.failure_message() is None


def test_pin_digest_returns_dest_pinned():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    result = make_mirror(skopeo, pin_digest=True)[0].run(
        plan_items(["quay.io/pko/a:v1"], MATCHER)
    )
    assert (
        result.as_dict()["images"][0]["dest_pinned"]
        == "mirror.test/pko/a@" + IMAGE_DIGEST
    )


def test_dest_pinned_absent_without_option():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    result = make_mirror(skopeo)[0].run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert "dest_pinned" not in result.as_dict()["images"][0]


def test_bytes_of_index_counts_children():
    amd64, arm64 = single_manifest(100, 10, "a"), single_manifest(200, 20, "b")
    raw = index_of(amd64, arm64)
    children = {digest_of(amd64): amd64, digest_of(arm64): arm64}
    assert (
        manifest_size(raw, children.__getitem__)
        == len(raw) + len(amd64) + len(arm64) + 330
    )


def test_bytes_of_copied_image():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    result = make_mirror(skopeo)[0].run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    assert result.images[0].bytes == len(IMAGE) + 110


@pytest.mark.parametrize(
    "count, text",
    [(512, "512 B"), (2048, "2.0 KiB"), (3 * 1024 * 1024, "3.0 MiB")],
    ids=["bytes", "kib", "mib"],
)
def test_format_bytes(count, text):
    assert format_bytes(count) == text


def test_summary_lines_end_with_total():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    result = make_mirror(skopeo)[0].run(plan_items(["quay.io/pko/a:v1"], MATCHER))
    lines = result.summary_lines()
    assert lines[0].startswith("copied     sha256:")
    assert lines[0].endswith("quay.io/pko/a:v1 -> mirror.test/pko/a:v1")
    assert lines[-1].startswith("total: 1 images, 1 copied, 0 skipped, 0 failed in ")


def test_progress_line_per_image():
    lines = []
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE, "quay.io/pko/b:v1": IMAGE})
    Mirror(skopeo, MirrorSettings(), MATCHER, progress=lines.append).run(
        plan_items(["quay.io/pko/a:v1", "quay.io/pko/b:v1"], MATCHER)
    )
    assert sorted(line[:5] for line in lines) == ["[1/2]", "[2/2]"]


def test_parallel_bounds_concurrent_copies():
    sources = {"quay.io/pko/i%d:v1" % number: IMAGE for number in range(8)}
    skopeo = FakeSkopeo(source=sources)
    skopeo.copy_delay = 0.05
    make_mirror(skopeo, parallel=3)[0].run(plan_items(sorted(sources), MATCHER))
    assert skopeo.max_active == 3


def test_result_order_follows_input():
    sources = {"quay.io/pko/i%d:v1" % number: IMAGE for number in range(6)}
    skopeo = FakeSkopeo(source=sources)
    result = make_mirror(skopeo, parallel=6)[0].run(
        plan_items(sorted(sources), MATCHER)
    )
    assert [image.src for image in result.images] == sorted(sources)


# Package closure

PACKAGE = "quay.io/pko/pkg:v1"
PACKAGE_RAW = index_of(single_manifest(salt="c"), single_manifest(salt="d"))
PACKAGE_PLATFORM = json.loads(PACKAGE_RAW)["manifests"][0]["digest"]
DEPENDENCY_RAW = single_manifest(salt="e")
DEPENDENCY_DIGEST = digest_of(DEPENDENCY_RAW)


def closure_skopeo(dependency_lock=None):
    lock = lock_document(
        images=[
            {
                "name": "manager",
                "image": "quay.io/pko/manager:v1",
                "digest": IMAGE_DIGEST,
            }
        ],
        dependencies=[
            {
                "name": "dep",
                "image": "quay.io/pko/dep-package:v2",
                "digest": DEPENDENCY_DIGEST,
                "version": "v2",
            }
        ],
    )
    packages = {
        "quay.io/pko/pkg@" + PACKAGE_PLATFORM: {"package/manifest.lock.yaml": lock}
    }
    if dependency_lock is not None:
        packages["quay.io/pko/dep-package@" + DEPENDENCY_DIGEST] = {
            "package/manifest.lock.yaml": dependency_lock
        }
    return FakeSkopeo(
        source={
            PACKAGE: PACKAGE_RAW,
            "quay.io/pko/manager@" + IMAGE_DIGEST: IMAGE,
            "quay.io/pko/dep-package@" + DEPENDENCY_DIGEST: DEPENDENCY_RAW,
            "quay.io/pko/nested@" + IMAGE_DIGEST: IMAGE,
        },
        packages=packages,
    )


NESTED_LOCK = lock_document(
    images=[
        {"name": "nested", "image": "quay.io/pko/nested:v3", "digest": IMAGE_DIGEST}
    ]
)


def test_closure_reads_package_manifest_once():
    skopeo = closure_skopeo()
    make_mirror(skopeo, package_closure=True)[0].run(plan_items([PACKAGE], MATCHER))
    assert skopeo.calls.count(("inspect_raw", PACKAGE, SOURCE)) == 1


def test_closure_adds_locked_images():
    skopeo = closure_skopeo()
    result = make_mirror(skopeo, package_closure=True)[0].run(
        plan_items([PACKAGE], MATCHER)
    )
    assert [(image.src, image.dest) for image in result.images] == [
        (PACKAGE, "mirror.test/pko/pkg:v1"),
        (
            "quay.io/pko/manager:v1@" + IMAGE_DIGEST,
            "mirror.test/pko/manager:v1@" + IMAGE_DIGEST,
        ),
        (
            "quay.io/pko/dep-package:v2@" + DEPENDENCY_DIGEST,
            "mirror.test/pko/dep-package:v2@" + DEPENDENCY_DIGEST,
        ),
    ]


def test_closure_origin_names_package():
    skopeo = closure_skopeo()
    result = make_mirror(skopeo, package_closure=True)[0].run(
        plan_items([PACKAGE], MATCHER)
    )
    assert result.images[1].origin == "lock of " + PACKAGE
    assert result.images[2].origin == "dependency of " + PACKAGE


def test_closure_pulls_one_platform():
    skopeo = closure_skopeo()
    make_mirror(skopeo, package_closure=True)[0].run(plan_items([PACKAGE], MATCHER))
    assert ("pull", "quay.io/pko/pkg@" + PACKAGE_PLATFORM) in skopeo.calls


def test_closure_without_recursive_skips_dependency_lock():
    skopeo = closure_skopeo(dependency_lock=NESTED_LOCK)
    result = make_mirror(skopeo, package_closure=True)[0].run(
        plan_items([PACKAGE], MATCHER)
    )
    assert len(result.images) == 3


def test_closure_recursive_reads_dependency_lock():
    skopeo = closure_skopeo(dependency_lock=NESTED_LOCK)
    mirror = make_mirror(skopeo, package_closure=True, recursive=True)[0]
    result = mirror.run(plan_items([PACKAGE], MATCHER))
    assert result.images[-1].src == "quay.io/pko/nested:v3@" + IMAGE_DIGEST
    assert (
        result.images[-1].origin
        == "lock of quay.io/pko/dep-package:v2@" + DEPENDENCY_DIGEST
    )


def test_closure_plain_image_adds_nothing():
    skopeo = FakeSkopeo(source={"quay.io/pko/a:v1": IMAGE})
    result = make_mirror(skopeo, package_closure=True)[0].run(
        plan_items(["quay.io/pko/a:v1"], MATCHER)
    )
    assert len(result.images) == 1
    assert result.closure_errors == []


def test_closure_skips_package_false():
    skopeo = closure_skopeo()
    items = plan_items([{"src": PACKAGE, "package": False}], MATCHER)
    make_mirror(skopeo, package_closure=True)[0].run(items)
    assert skopeo.count("pull") == 0


def test_closure_off_does_not_pull():
    skopeo = closure_skopeo()
    make_mirror(skopeo)[0].run(plan_items([PACKAGE], MATCHER))
    assert skopeo.count("pull") == 0


def test_closure_image_without_override_is_error():
    skopeo = closure_skopeo()
    items = [MirrorItem(PACKAGE, "mirror.test/pkg:v1")]
    mirror = Mirror(
        skopeo,
        MirrorSettings(package_closure=True),
        PrefixMatcher("quay.io/pko/pkg=mirror.test/pkg"),
    )
    result = mirror.run(items)
    assert [error.package for error in result.closure_errors] == [PACKAGE, PACKAGE]
    assert result.closure_errors[0].error.startswith(
        "image 'quay.io/pko/manager:v1@%s' matches no override rule" % IMAGE_DIGEST
    )
    assert result.failed


def test_closure_missing_package_is_error():
    skopeo = FakeSkopeo()
    result = make_mirror(skopeo, package_closure=True)[0].run(
        plan_items([PACKAGE], MATCHER)
    )
    assert result.closure_errors[0].error.startswith(
        "source image quay.io/pko/pkg:v1 was not found"
    )
    assert result.images[0].action == FAILED


# Report


def test_write_json_atomic_replaces_file(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    write_json_atomic(str(path), {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["report.json"]


def test_write_json_atomic_missing_directory(tmp_path):
    missing = tmp_path / "no" / "report.json"
    with pytest.raises(MirrorInputError) as caught:
        write_json_atomic(str(missing), {})
    assert str(caught.value) == (
        "report directory %s does not exist. Create it or choose another report path."
        % (tmp_path / "no")
    )
