# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Mirror engine against real skopeo and real distribution registries on loopback."""

import json
import os

import pytest

from ansible_collections.pko.airgap.plugins.module_utils.mirror_task import (
    run_mirror_task,
)
from ansible_collections.pko.airgap.plugins.module_utils.mirror import (
    Mirror,
    MirrorSettings,
    plan_items,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixMatcher,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    DESTINATION,
    RegistryOptions,
    Skopeo,
)
from localenv.images import make_and_push_image

WRONG_PASSWORD = "Wrong-Pa55word-Never-Printed"


def params(**values):
    base = {
        "parallel": 4,
        "retries": 1,
        "retry_delay": 0.1,
        "command_timeout": 120,
        "src_tls_verify": False,
        "dest_tls_verify": False,
    }
    base.update(values)
    return base


def push_images(registry, work_dir, count, prefix="gen", seed=None):
    return [
        make_and_push_image(
            str(work_dir),
            "%s/%s/image-%02d:v1" % (registry.address, prefix, number),
            layer_sizes=(4096,),
            seed=None if seed is None else seed + number,
        )
        for number in range(count)
    ]


def overrides_for(source, mirror, prefix="gen"):
    return "%s/%s/=%s/mirror/" % (source.address, prefix, mirror.address)


def destination_digest(mirror, reference, **options):
    skopeo = Skopeo(
        destination=(
            RegistryOptions(**options) if options else RegistryOptions(tls_verify=False)
        )
    )
    return skopeo.inspect_digest(reference, DESTINATION)


@pytest.fixture(scope="module")
def generated(source_registry, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("generated")
    return push_images(source_registry, work_dir, 5, seed=500)


def test_multiarch_copy_keeps_index_digest(source_registry, mirror_registry, generated):
    result, failure = run_mirror_task(
        params(
            images=[image.reference for image in generated],
            overrides=overrides_for(source_registry, mirror_registry),
        ),
        False,
    )
    assert failure is None
    assert result["counts"]["copied"] == 5
    for image in generated:
        name = image.reference.rsplit("/", 1)[1]
        assert (
            destination_digest(
                mirror_registry, "%s/mirror/%s" % (mirror_registry.address, name)
            )
            == image.digest
        )


def test_second_run_changes_nothing(source_registry, mirror_registry, generated):
    task = params(
        images=[image.reference for image in generated],
        overrides=overrides_for(source_registry, mirror_registry),
    )
    run_mirror_task(task, False)
    result, failure = run_mirror_task(task, False)
    assert failure is None
    assert result["changed"] is False
    assert result["counts"]["skipped"] == 5


def test_check_mode_copies_nothing(source_registry, mirror_registry, generated):
    result, _failure = run_mirror_task(
        params(
            images=[generated[0].reference],
            overrides=overrides_for(source_registry, mirror_registry),
        ),
        True,
    )
    assert result["counts"]["would_copy"] == 1
    name = generated[0].reference.rsplit("/", 1)[1]
    assert (
        destination_digest(
            mirror_registry, "%s/mirror/%s" % (mirror_registry.address, name)
        )
        is None
    )


def test_missing_source_fails_only_that_image(
    source_registry, mirror_registry, generated
):
    missing = "%s/gen/not-there:v1" % source_registry.address
    result, failure = run_mirror_task(
        params(
            images=[generated[0].reference, missing, generated[1].reference],
            overrides=overrides_for(source_registry, mirror_registry),
        ),
        False,
    )
    assert [image["action"] for image in result["images"]] == [
        "copied",
        "failed",
        "copied",
    ]
    assert failure == (
        "image mirror failed for 1 of 3 images (2 done, 0 closure errors): %s -> "
        "%s/mirror/not-there:v1: source image %s was not found (manifest unknown). "
        "Check the reference, the credentials and registries_conf."
        % (missing, mirror_registry.address, missing)
    )


def test_auth_destination_with_password(source_registry, auth_registry, generated):
    result, failure = run_mirror_task(
        params(
            images=[generated[2].reference],
            overrides="%s/gen/=%s/auth-ok/"
            % (source_registry.address, auth_registry.address),
            dest_username=auth_registry.username,
            dest_password=auth_registry.password,
        ),
        False,
    )
    assert failure is None
    assert result["counts"]["copied"] == 1


def test_wrong_password_hidden_everywhere(
    source_registry, auth_registry, generated, tmp_path
):
    report = tmp_path / "report.json"
    progress = tmp_path / "progress.log"
    result, failure = run_mirror_task(
        params(
            images=[generated[3].reference],
            overrides="%s/gen/=%s/auth-bad/"
            % (source_registry.address, auth_registry.address),
            dest_username=auth_registry.username,
            dest_password=WRONG_PASSWORD,
            report=str(report),
            progress_file=str(progress),
        ),
        False,
    )
    image = result["images"][0]
    assert image["action"] == "failed"
    assert image["error_kind"] == "unauthorized"
    assert "unauthorized: authentication required" in failure
    assert WRONG_PASSWORD not in failure
    assert WRONG_PASSWORD not in json.dumps(result)
    assert WRONG_PASSWORD not in " ".join(image["cmd"])
    assert "--creds=%s:********" % auth_registry.username in image["cmd"]
    assert WRONG_PASSWORD not in report.read_text()
    assert WRONG_PASSWORD not in progress.read_text()


def test_tls_destination_with_cert_dir(source_registry, tls_registry, generated):
    result, failure = run_mirror_task(
        params(
            images=[generated[4].reference],
            overrides="%s/gen/=%s/tls/"
            % (source_registry.address, tls_registry.address),
            dest_tls_verify=True,
            dest_cert_dir=tls_registry.cert_dir,
        ),
        False,
    )
    assert failure is None
    name = generated[4].reference.rsplit("/", 1)[1]
    digest = destination_digest(
        tls_registry,
        "%s/tls/%s" % (tls_registry.address, name),
        cert_dir=tls_registry.cert_dir,
    )
    assert digest == generated[4].digest


def test_tls_destination_without_ca_fails(source_registry, tls_registry, generated):
    result, failure = run_mirror_task(
        params(
            images=[generated[4].reference],
            overrides="%s/gen/=%s/tls-bad/"
            % (source_registry.address, tls_registry.address),
            dest_tls_verify=True,
        ),
        False,
    )
    image = result["images"][0]
    assert image["action"] == "failed"
    assert image["error_kind"] == "tls"
    assert "certificate signed by unknown authority" in failure
    # One source inspect and one destination inspect: the TLS error is not retried.
    assert image["attempts"] == 2


def test_resume_after_destination_dies(source_registry, mirror_registry, tmp_path):
    images = push_images(source_registry, tmp_path, 6, prefix="resume")
    references = [image.reference for image in images]
    matcher = PrefixMatcher(overrides_for(source_registry, mirror_registry, "resume"))
    skopeo = Skopeo(
        source=RegistryOptions(tls_verify=False),
        destination=RegistryOptions(tls_verify=False),
        timeout=60,
    )
    finished = []

    def kill_after_two(line):
        if line.startswith("["):
            finished.append(line)
            if len(finished) == 2:
                mirror_registry.kill()

    settings = MirrorSettings(parallel=1, retries=1, retry_delay=0.1)
    first = Mirror(skopeo, settings, matcher, progress=kill_after_two).run(
        plan_items(references, matcher)
    )
    assert [image.action for image in first.images] == ["copied"] * 2 + ["failed"] * 4
    assert {image.error_kind for image in first.images[2:]} == {"transient"}
    # Source inspect, then the destination inspect and its one retry.
    assert first.images[2].attempts == 3

    mirror_registry.restart()
    second = Mirror(skopeo, settings, matcher).run(plan_items(references, matcher))
    assert [image.action for image in second.images] == ["skipped"] * 2 + ["copied"] * 4


def test_digest_change_between_check_and_copy(
    source_registry, mirror_registry, tmp_path
):
    reference = "%s/moving/app:v1" % source_registry.address
    original = make_and_push_image(
        str(tmp_path / "first"), reference, layer_sizes=(1024,)
    )
    replaced = []

    def push_new_image(item, digest):
        replaced.append(
            make_and_push_image(
                str(tmp_path / "second"), reference, layer_sizes=(1024,)
            )
        )

    matcher = PrefixMatcher(
        "%s/moving/=%s/moving/" % (source_registry.address, mirror_registry.address)
    )
    skopeo = Skopeo(
        source=RegistryOptions(tls_verify=False),
        destination=RegistryOptions(tls_verify=False),
    )
    mirror = Mirror(
        skopeo,
        MirrorSettings(retries=3, retry_delay=0.1),
        matcher,
        before_copy=push_new_image,
    )
    result = mirror.run(plan_items([reference], matcher))
    image = result.images[0]
    assert image.action == "failed"
    assert image.error_kind == "digest_mismatch"
    # Source inspect, destination inspect, copy and verify, with no retry.
    assert image.attempts == 4
    assert original.digest in image.error
    assert replaced[0].digest in image.error


def test_package_closure_from_seeded_package(seeded_source, mirror_registry):
    release = seeded_source.release
    result, failure = run_mirror_task(
        params(
            images=[release.package_reference],
            overrides="quay.io/package-operator/=%s/pko/" % mirror_registry.address,
            registries_conf=seeded_source.registries_conf,
            src_tls_verify=True,
            package_closure=True,
            pin_digest=True,
        ),
        False,
    )
    assert failure is None
    mirrored = {image["src"]: image["dest_pinned"] for image in result["images"]}
    expected = {}
    for reference, digest in release.public_images().items():
        name = reference.rsplit("/", 1)[1].split(":")[0]
        source = (
            reference
            if reference == release.package_reference
            else "%s@%s" % (reference, digest)
        )
        expected[source] = "%s/pko/%s@%s" % (mirror_registry.address, name, digest)
    assert mirrored == expected


def test_package_closure_keeps_lock_tags(seeded_source, mirror_registry):
    release = seeded_source.release
    run_mirror_task(
        params(
            images=[release.package_reference],
            overrides="quay.io/package-operator/=%s/pko/" % mirror_registry.address,
            registries_conf=seeded_source.registries_conf,
            package_closure=True,
        ),
        False,
    )
    manager = release.images["package-operator-manager"]
    tagged = "%s/pko/package-operator-manager:v1.18.2" % mirror_registry.address
    assert destination_digest(mirror_registry, tagged) == manager.digest


def test_recursive_closure_follows_dependencies(dependency_source, mirror_registry):
    release = dependency_source.release
    task = params(
        images=[release.package_reference],
        overrides="quay.io/package-operator/=%s/pko/" % mirror_registry.address,
        registries_conf=dependency_source.registries_conf,
        package_closure=True,
        recursive=True,
    )
    result, failure = run_mirror_task(task, False)
    assert failure is None
    copied = sorted(
        image["src"].split("/")[-1].split("@")[0] for image in result["images"]
    )
    assert copied == [
        "example-dependency-manager:v1.0.0",
        "example-dependency-package:v1.0.0",
        "nested-dependency-manager:v0.3.0",
        "nested-dependency-package:v0.3.0",
        "package-operator-manager:v1.18.2",
        "package-operator-package:v1.18.2",
        "remote-phase-manager:v1.18.2",
    ]


def test_closure_without_recursive_stops_at_dependency(
    dependency_source, mirror_registry
):
    release = dependency_source.release
    result, _failure = run_mirror_task(
        params(
            images=[release.package_reference],
            overrides="quay.io/package-operator/=%s/pko/" % mirror_registry.address,
            registries_conf=dependency_source.registries_conf,
            package_closure=True,
        ),
        False,
    )
    names = {image["src"].split("/")[-1].split(":")[0] for image in result["images"]}
    assert "example-dependency-package" in names
    assert "example-dependency-manager" not in names


def test_skopeo_state_outside_var_lib(skopeo_env):
    assert skopeo_env["XDG_DATA_HOME"].startswith(os.path.dirname(skopeo_env["TMPDIR"]))
