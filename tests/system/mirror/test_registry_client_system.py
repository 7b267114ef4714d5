# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Registry API client and HTTP manifest checks against real distribution registries.

Each result of the client is compared with skopeo's result for the same
reference, because the client stands in for skopeo.
"""

import base64
import json

import pytest

from ansible_collections.pko.airgap.plugins.module_utils.mirror_task import (
    run_mirror_task,
)
from ansible_collections.pko.airgap.plugins.module_utils.registry_client import (
    RegistryClient,
    RegistryClientError,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    DESTINATION,
    SOURCE,
    TLS,
    UNAUTHORIZED,
    RegistryOptions,
    Skopeo,
)
from localenv.images import make_and_push_image

WRONG_PASSWORD = "Wrong-Api-Pa55word-Never-Printed"


@pytest.fixture(scope="module")
def plain_image(source_registry, tmp_path_factory):
    return make_and_push_image(
        str(tmp_path_factory.mktemp("api-plain")),
        "%s/api/plain:v1" % source_registry.address,
        layer_sizes=(2048,),
        seed=700,
    )


@pytest.fixture(scope="module")
def auth_image(auth_registry, tmp_path_factory):
    return make_and_push_image(
        str(tmp_path_factory.mktemp("api-auth")),
        "%s/api/auth:v1" % auth_registry.address,
        layer_sizes=(2048,),
        seed=701,
        username=auth_registry.username,
        password=auth_registry.password,
    )


@pytest.fixture(scope="module")
def tls_image(tls_registry, tmp_path_factory):
    return make_and_push_image(
        str(tmp_path_factory.mktemp("api-tls")),
        "%s/api/tls:v1" % tls_registry.address,
        layer_sizes=(2048,),
        seed=702,
        cert_dir=tls_registry.cert_dir,
    )


def plain_skopeo():
    return Skopeo(source=RegistryOptions(tls_verify=False))


# Plain HTTP


def test_plain_digest_matches_skopeo(plain_image):
    client = RegistryClient(RegistryOptions(tls_verify=False))
    digest = client.manifest_digest(plain_image.reference)
    assert digest == plain_image.digest
    assert digest == plain_skopeo().inspect_digest(plain_image.reference, SOURCE)


def test_plain_index_bytes_match_skopeo(plain_image):
    client = RegistryClient(RegistryOptions(tls_verify=False))
    raw = client.get_manifest(plain_image.reference)
    assert raw == plain_skopeo().inspect_raw(plain_image.reference, SOURCE)


def test_plain_platform_manifest_matches_skopeo(plain_image):
    client = RegistryClient(RegistryOptions(tls_verify=False))
    index = json.loads(client.get_manifest(plain_image.reference))
    platform = "%s@%s" % (plain_image.repository, index["manifests"][0]["digest"])
    assert client.get_manifest(platform) == plain_skopeo().inspect_raw(platform)


@pytest.mark.parametrize(
    "suffix", ["api/plain:missing", "api/no-such-repository:v1"], ids=["tag", "repo"]
)
def test_plain_missing_is_none(source_registry, plain_image, suffix):
    reference = "%s/%s" % (source_registry.address, suffix)
    client = RegistryClient(RegistryOptions(tls_verify=False))
    assert client.manifest_digest(reference) is None
    assert plain_skopeo().inspect_digest(reference, SOURCE) is None


def test_plain_registry_with_tls_verify_fails(plain_image):
    client = RegistryClient(RegistryOptions())
    with pytest.raises(RegistryClientError) as caught:
        client.manifest_digest(plain_image.reference)
    assert caught.value.kind == TLS


# Basic auth


def test_auth_digest_with_password(auth_registry, auth_image):
    options = RegistryOptions(
        tls_verify=False,
        username=auth_registry.username,
        password=auth_registry.password,
    )
    assert RegistryClient(options).manifest_digest(auth_image.reference) == (
        auth_image.digest
    )


def test_auth_digest_from_authfile(auth_registry, auth_image, tmp_path):
    secret = "%s:%s" % (auth_registry.username, auth_registry.password)
    authfile = tmp_path / "auth.json"
    authfile.write_text(
        json.dumps(
            {
                "auths": {
                    auth_registry.address: {
                        "auth": base64.b64encode(secret.encode()).decode()
                    }
                }
            }
        )
    )
    client = RegistryClient(RegistryOptions(tls_verify=False), authfile=str(authfile))
    assert client.manifest_digest(auth_image.reference) == auth_image.digest


@pytest.mark.parametrize(
    "password", [None, WRONG_PASSWORD], ids=["anonymous", "wrong-password"]
)
def test_auth_rejected(auth_registry, auth_image, password):
    options = RegistryOptions(tls_verify=False)
    if password:
        options = RegistryOptions(
            tls_verify=False, username=auth_registry.username, password=password
        )
    with pytest.raises(RegistryClientError) as caught:
        RegistryClient(options).manifest_digest(auth_image.reference)
    assert caught.value.kind == UNAUTHORIZED
    assert WRONG_PASSWORD not in caught.value.message


# TLS


def test_tls_digest_with_cert_dir(tls_registry, tls_image):
    client = RegistryClient(RegistryOptions(cert_dir=tls_registry.cert_dir))
    assert client.manifest_digest(tls_image.reference) == tls_image.digest


def test_tls_without_ca_fails(tls_image):
    with pytest.raises(RegistryClientError) as caught:
        RegistryClient(RegistryOptions()).manifest_digest(tls_image.reference)
    assert caught.value.kind == TLS


def test_tls_without_verify_uses_https(tls_registry, tls_image):
    client = RegistryClient(RegistryOptions(tls_verify=False))
    assert client.manifest_digest(tls_image.reference) == tls_image.digest
    assert client.endpoint(tls_registry.address).scheme == "https"


# The mirror task checks manifests over the registry API


def run_logged(params, check_mode=False):
    lines = []
    result, failure = run_mirror_task(params, check_mode, log=lines.append)
    checks = [line for line in lines if line.startswith("manifest checks: ")]
    return result, failure, checks


def mirror_params(**values):
    base = {"retries": 1, "retry_delay": 0.1, "command_timeout": 120}
    base.update(values)
    return base


def test_task_plain_checks_without_skopeo(
    source_registry, mirror_registry, plain_image
):
    params = mirror_params(
        images=[plain_image.reference],
        overrides="%s/api/=%s/api/"
        % (source_registry.address, mirror_registry.address),
        src_tls_verify=False,
        dest_tls_verify=False,
    )
    first, failure, first_checks = run_logged(params)
    second, _failure, second_checks = run_logged(params)
    assert failure is None
    assert first["counts"]["copied"] == 1
    # Source index and its two platform manifests, destination before and after.
    assert first_checks == ["manifest checks: 5 over the registry API, 0 with skopeo"]
    assert second["changed"] is False
    assert second_checks == ["manifest checks: 2 over the registry API, 0 with skopeo"]


def test_task_auth_destination_checks_over_api(
    source_registry, auth_registry, plain_image
):
    params = mirror_params(
        images=[plain_image.reference],
        overrides="%s/api/=%s/api-mirror/"
        % (source_registry.address, auth_registry.address),
        src_tls_verify=False,
        dest_tls_verify=False,
        dest_username=auth_registry.username,
        dest_password=auth_registry.password,
    )
    result, failure, checks = run_logged(params)
    assert failure is None
    assert result["counts"]["copied"] == 1
    assert checks == ["manifest checks: 5 over the registry API, 0 with skopeo"]


def test_task_wrong_password_reported_by_skopeo(
    source_registry, auth_registry, plain_image
):
    params = mirror_params(
        images=[plain_image.reference],
        overrides="%s/api/=%s/api-denied/"
        % (source_registry.address, auth_registry.address),
        src_tls_verify=False,
        dest_tls_verify=False,
        dest_username=auth_registry.username,
        dest_password=WRONG_PASSWORD,
    )
    result, failure, checks = run_logged(params)
    image = result["images"][0]
    assert image["error_kind"] == "unauthorized"
    assert image["cmd"][1] == "inspect"
    assert "unauthorized: authentication required" in failure
    assert WRONG_PASSWORD not in json.dumps(result)
    assert WRONG_PASSWORD not in failure
    assert checks == [
        "manifest checks: 1 over the registry API, 1 with skopeo because of: "
        "unauthorized at %s (HTTP 401) (1)" % auth_registry.address
    ]


def test_task_tls_destination_checks_over_api(
    source_registry, tls_registry, plain_image
):
    params = mirror_params(
        images=[plain_image.reference],
        overrides="%s/api/=%s/api-mirror/"
        % (source_registry.address, tls_registry.address),
        src_tls_verify=False,
        dest_cert_dir=tls_registry.cert_dir,
    )
    result, failure, checks = run_logged(params)
    assert failure is None
    assert result["counts"]["copied"] == 1
    assert checks == ["manifest checks: 5 over the registry API, 0 with skopeo"]
    reference = "%s/api-mirror/plain:v1" % tls_registry.address
    digest = Skopeo(
        destination=RegistryOptions(cert_dir=tls_registry.cert_dir)
    ).inspect_digest(reference, DESTINATION)
    assert digest == plain_image.digest


def test_task_registries_conf_source_uses_skopeo(seeded_source, mirror_registry):
    release = seeded_source.release
    params = mirror_params(
        images=[release.package_reference],
        overrides="quay.io/package-operator/=%s/pko/" % mirror_registry.address,
        registries_conf=seeded_source.registries_conf,
        dest_tls_verify=False,
    )
    result, failure, checks = run_logged(params)
    assert failure is None
    assert result["counts"]["copied"] == 1
    # The source index and two platform manifests through the redirect, the
    # destination before and after the copy over the registry API.
    assert checks == [
        "manifest checks: 2 over the registry API, 3 with skopeo because of: "
        "registries.conf configures quay.io (3)"
    ]
