# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import os

import pytest

from ansible_collections.pko.airgap.plugins.module_utils.coverage_preflight import (
    COVERED,
    MISSING,
    NOT_REDIRECTED,
    NOT_REWRITTEN,
    PULLER_KUBELET,
    PULLER_PKO,
    UNREADABLE,
    bootstrap_images,
    check_coverage,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_rewrite import (
    rewrite_manifest,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_yaml import (
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
MIRROR = "127.0.0.1:5000/pko/"
OVERRIDES = "quay.io/package-operator/=" + MIRROR
VERSION = "v1.18.2"
DIGESTS = {
    "package-operator-manager": "sha256:" + "1" * 64,
    "remote-phase-manager": "sha256:" + "2" * 64,
    "dependency": "sha256:" + "3" * 64,
}
LOCK = [
    {
        "name": "package-operator-manager",
        "image": "quay.io/package-operator/package-operator-manager:" + VERSION,
        "digest": DIGESTS["package-operator-manager"],
    },
    {
        "name": "remote-phase-manager",
        "image": "quay.io/package-operator/remote-phase-manager:" + VERSION,
        "digest": DIGESTS["remote-phase-manager"],
    },
]
FULL_MIRROR = {
    MIRROR + "package-operator-manager:" + VERSION,
    MIRROR + "package-operator-package:" + VERSION,
    MIRROR + "package-operator-manager@" + DIGESTS["package-operator-manager"],
    MIRROR + "remote-phase-manager@" + DIGESTS["remote-phase-manager"],
}


def _rewritten_job():
    with open(FIXTURE, encoding="utf-8") as handle:
        return rewrite_manifest(handle.read(), OVERRIDES).text


class FakeMirror:
    """A mirror that has ``references`` and records every lookup."""

    def __init__(self, references, lock=None):
        self.references = set(references)
        self.lock = LOCK if lock is None else lock
        self.lookups = []
        self.lock_reads = []

    def exists(self, reference):
        self.lookups.append(reference)
        return reference in self.references

    def lock_images(self, package):
        self.lock_reads.append(package)
        return self.lock


def _check(text, mirror, overrides=OVERRIDES):
    images = bootstrap_images(text, "job.yaml")
    return check_coverage(
        images.kubelet, images.packages, overrides, mirror.exists, mirror.lock_images
    )


def test_rewritten_job_fully_mirrored():
    mirror = FakeMirror(FULL_MIRROR)

    report = _check(_rewritten_job(), mirror)

    assert report.ok
    assert [image.status for image in report.images] == [COVERED] * 4
    assert report.unused_rules == []
    assert mirror.lock_reads == [MIRROR + "package-operator-package:" + VERSION]


def test_lock_images_checked_by_digest():
    mirror = FakeMirror(FULL_MIRROR)

    report = _check(_rewritten_job(), mirror)

    lock_pulls = [
        image.pulled for image in report.images if image.origin.startswith("lock")
    ]
    assert lock_pulls == [
        MIRROR + "package-operator-manager@" + DIGESTS["package-operator-manager"],
        MIRROR + "remote-phase-manager@" + DIGESTS["remote-phase-manager"],
    ]


def test_lookups_stay_in_the_mirror():
    mirror = FakeMirror(FULL_MIRROR)

    _check(_rewritten_job(), mirror)

    assert mirror.lookups
    assert all(reference.startswith(MIRROR) for reference in mirror.lookups)


def test_missing_lock_image_fails_with_its_name():
    mirror = FakeMirror(
        FULL_MIRROR
        - {MIRROR + "remote-phase-manager@" + DIGESTS["remote-phase-manager"]}
    )

    report = _check(_rewritten_job(), mirror)

    assert not report.ok
    assert [image.status for image in report.uncovered] == [MISSING]
    message = report.failure_message()
    assert message.startswith(
        "1 of 4 images that the bootstrap pulls are not available"
    )
    assert "lock file image remote-phase-manager" in message
    assert "which the mirror does not have" in message


def test_unrewritten_job_image_is_reported():
    with open(FIXTURE, encoding="utf-8") as handle:
        original = handle.read()
    mirror = FakeMirror(FULL_MIRROR)

    report = _check(original, mirror)

    job_image = report.images[0]
    assert job_image.puller == PULLER_KUBELET
    assert job_image.status == NOT_REWRITTEN
    assert "Rewrite the manifest first" in job_image.detail
    assert not report.ok


def test_unrewritten_package_image_is_redirected_by_pko():
    # PKO applies the overrides to the -self-bootstrap= package itself, so
    # only the Job's own image has to be rewritten in the manifest.
    with open(FIXTURE, encoding="utf-8") as handle:
        original = handle.read()
    mirror = FakeMirror(FULL_MIRROR)

    report = _check(original, mirror)

    package = report.images[1]
    assert package.puller == PULLER_PKO
    assert package.status == COVERED
    assert package.pulled == MIRROR + "package-operator-package:" + VERSION


def test_image_without_rule_is_not_redirected():
    lock = LOCK + [
        {
            "name": "helper",
            "image": "docker.io/library/busybox:1",
            "digest": DIGESTS["dependency"],
        }
    ]
    mirror = FakeMirror(FULL_MIRROR, lock)

    report = _check(_rewritten_job(), mirror)

    assert [image.status for image in report.uncovered] == [NOT_REDIRECTED]
    assert "no rule redirects it" in report.failure_message()
    assert not any("busybox" in reference for reference in mirror.lookups)


def test_dependency_is_named():
    lock = LOCK + [
        {
            "name": "cert-manager",
            "image": "quay.io/package-operator/cert-manager:v1",
            "digest": DIGESTS["dependency"],
            "dependency": True,
        }
    ]
    mirror = FakeMirror(FULL_MIRROR, lock)

    report = _check(_rewritten_job(), mirror)

    assert report.uncovered[0].origin.startswith("lock file dependency cert-manager")


def test_unused_rule_is_not_an_error():
    mirror = FakeMirror(FULL_MIRROR)

    report = _check(
        _rewritten_job(), mirror, OVERRIDES + ",ghcr.io/=127.0.0.1:5000/ghcr/"
    )

    assert report.unused_rules == ["ghcr.io/=127.0.0.1:5000/ghcr/"]
    assert report.ok


def test_missing_package_skips_lock_file():
    mirror = FakeMirror(FULL_MIRROR - {MIRROR + "package-operator-package:" + VERSION})

    report = _check(_rewritten_job(), mirror)

    assert mirror.lock_reads == []
    assert [image.status for image in report.uncovered] == [MISSING]


def test_extending_to_fails_second_pull():
    overrides = "quay.io/package-operator/=quay.io/package-operator/m/"
    with open(FIXTURE, encoding="utf-8") as handle:
        job = rewrite_manifest(handle.read(), overrides).text
    mirror = FakeMirror(
        {"quay.io/package-operator/m/package-operator-package:" + VERSION}
    )

    report = _check(job, mirror, overrides)

    package = report.images[1]
    assert (
        package.pulled
        == "quay.io/package-operator/m/m/package-operator-package:" + VERSION
    )
    assert package.status == MISSING


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(
            {
                "name": "x",
                "image": "quay.io/package-operator/X",
                "digest": DIGESTS["dependency"],
            },
            id="upper-case",
        ),
        pytest.param(
            {
                "name": "x",
                "image": "quay.io/package-operator/x",
                "digest": "sha256:abc",
            },
            id="bad-digest",
        ),
        pytest.param(
            {"name": "x", "image": None, "digest": DIGESTS["dependency"]}, id="no-image"
        ),
    ],
)
def test_unreadable_lock_entry(entry):
    mirror = FakeMirror(FULL_MIRROR, LOCK + [entry])

    report = _check(_rewritten_job(), mirror)

    assert [image.status for image in report.uncovered] == [UNREADABLE]


def test_lookup_errors_are_reported():
    def broken_exists(reference):
        raise OSError("connection refused")

    images = bootstrap_images(_rewritten_job(), "job.yaml")

    report = check_coverage(
        images.kubelet, images.packages, OVERRIDES, broken_exists, lambda ref: []
    )

    assert not report.ok
    assert "connection refused" in report.errors[0]
    assert "whether the mirror has it is unknown" in report.images[0].detail


def test_lock_read_errors_are_reported():
    def broken_lock(reference):
        raise ValueError("no package/manifest.lock.yaml in the image")

    images = bootstrap_images(_rewritten_job(), "job.yaml")

    report = check_coverage(
        images.kubelet,
        images.packages,
        OVERRIDES,
        FakeMirror(FULL_MIRROR).exists,
        broken_lock,
    )

    assert report.errors == [
        "reading the lock file of package %spackage-operator-package:%s failed: "
        "no package/manifest.lock.yaml in the image" % (MIRROR, VERSION)
    ]
    assert "no package/manifest.lock.yaml" in report.failure_message()


def test_unexpected_errors_propagate():
    def buggy(reference):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        check_coverage([("job", MIRROR + "x:1")], [], OVERRIDES, buggy, lambda ref: [])


def test_malformed_overrides_raise():
    with pytest.raises(PrefixOverrideError):
        check_coverage([], [], "bad", lambda ref: True, lambda ref: [])


def test_bootstrap_images_of_v1_18_2():
    images = bootstrap_images(_rewritten_job(), "job.yaml")

    assert [reference for origin, reference in images.kubelet] == [
        MIRROR + "package-operator-manager:" + VERSION
    ]
    assert [reference for origin, reference in images.packages] == [
        MIRROR + "package-operator-package:" + VERSION
    ]
    assert images.overrides == OVERRIDES


def test_bootstrap_images_reads_cluster_package():
    text = (
        "apiVersion: package-operator.run/v1alpha1\nkind: ClusterPackage\n"
        "metadata: {name: package-operator}\nspec: {image: quay.io/package-operator/p:v1}\n"
    )

    images = bootstrap_images(text, "cp.yaml")

    assert [reference for origin, reference in images.packages] == [
        "quay.io/package-operator/p:v1"
    ]
    assert images.overrides is None


def test_bootstrap_images_rejects_conflicting_overrides():
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "  - {name: a, image: x, env: [{name: PKO_IMAGE_PREFIX_OVERRIDES, value: 'a/=b/'}]}\n"
        "  - {name: b, image: x, env: [{name: PKO_IMAGE_PREFIX_OVERRIDES, value: 'c/=d/'}]}\n"
    )

    with pytest.raises(ManifestError, match="different values"):
        bootstrap_images(text, "p.yaml")


def test_invalid_package_argument_fails():
    with open(FIXTURE, encoding="utf-8") as handle:
        original = handle.read()
    manifest = original.replace(
        "-self-bootstrap=quay.io/package-operator/",
        "-self-bootstrap=quay.io/Package-Operator/",
    )

    with pytest.raises(ManifestError) as caught:
        bootstrap_images(manifest, "job.yaml")

    assert str(caught.value).startswith(
        "job.yaml: document 4 (Job package-operator-system/package-operator-bootstrap), "
        "field spec.template.spec.containers[0].args[0]: the package image of "
        "-self-bootstrap is invalid: invalid image reference "
        "'quay.io/Package-Operator/package-operator-package:v1.18.2': repository "
        "component 'Package-Operator' must be lower case."
    )
