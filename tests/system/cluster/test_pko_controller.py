# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The PKO bootstrap test controller against a real control plane and registries.

These tests install and remove Package Operator's objects (namespace
``package-operator-system``, ClusterPackage ``package-operator``), so point
``PKO_AIRGAP_TEST_KUBECONFIG`` only at a disposable cluster.
"""

import base64
import json
import time

import pytest
from kubernetes.dynamic.exceptions import (
    DynamicApiError,
    NotFoundError,
    ResourceNotFoundError,
)

from localenv.pytest_cluster import (
    apply,
    purge_namespace,
    self_bootstrap_documents,
    wait_until,
)
from localenv.registry import start_registry
from localenv.seed import seed_pko_release

NAMESPACE = "package-operator-system"
JOB_NAME = "package-operator-bootstrap"
PACKAGE_NAME = "package-operator"
DEPLOYMENT_NAME = "package-operator-manager"
VERSION = "v1.18.2"
UPGRADE_VERSION = "v1.18.3"
PUBLIC_PREFIX = "quay.io/package-operator/"
TIMEOUT = 60


# -- helpers


def mirror_prefix(registry):
    return "%s/package-operator/" % registry.address


def full_override(registry):
    return "%s=%s" % (PUBLIC_PREFIX, mirror_prefix(registry))


def seed(registry, tmp_path, versions=(VERSION,), **push_options):
    push_options.setdefault("tls_verify", False)
    return {
        version: seed_pko_release(
            registry.address, str(tmp_path / "seed"), version=version, **push_options
        )
        for version in versions
    }


def apply_all(cluster, documents):
    for document in documents:
        apply(cluster, document)


def read(cluster, api_version, kind, name, namespace=None):
    try:
        found = cluster.resource(api_version, kind).get(name=name, namespace=namespace)
    except NotFoundError:
        return None
    return found.to_dict()


def read_job(cluster):
    return read(cluster, "batch/v1", "Job", JOB_NAME, NAMESPACE)


def read_deployment(cluster):
    return read(cluster, "apps/v1", "Deployment", DEPLOYMENT_NAME, NAMESPACE)


def read_cluster_package(cluster):
    try:
        return read(
            cluster, "package-operator.run/v1alpha1", "ClusterPackage", PACKAGE_NAME
        )
    except ResourceNotFoundError:
        # Discovery does not list the kind until the CRD is installed.
        return None


def condition(document, kind):
    for entry in (document.get("status") or {}).get("conditions") or []:
        if entry["type"] == kind:
            return entry
    return {}


def finished_job(cluster):
    job = read_job(cluster)
    if job is None:
        return None
    for kind in ("Complete", "Failed"):
        if condition(job, kind).get("status") == "True":
            return job
    return None


def wait_finished(cluster):
    return wait_until(lambda: finished_job(cluster), TIMEOUT, "bootstrap Job finished")


def delete_job(cluster):
    try:
        cluster.resource("batch/v1", "Job").delete(
            name=JOB_NAME,
            namespace=NAMESPACE,
            body={"propagationPolicy": "Background"},
        )
    except NotFoundError:
        return
    wait_until(lambda: read_job(cluster) is None, TIMEOUT, "old Job deleted")


def reset_package_operator(cluster):
    """Remove what a bootstrap created, so each test starts from nothing."""
    purge_namespace(cluster, NAMESPACE)
    if read_cluster_package(cluster) is not None:
        cluster.resource("package-operator.run/v1alpha1", "ClusterPackage").delete(
            name=PACKAGE_NAME
        )
        wait_until(
            lambda: read_cluster_package(cluster) is None,
            TIMEOUT,
            "ClusterPackage deleted",
        )
    try:
        cluster.resource("rbac.authorization.k8s.io/v1", "ClusterRoleBinding").delete(
            name="package-operator"
        )
    except NotFoundError:
        pass


@pytest.fixture(autouse=True)
def clean_package_operator(cluster):
    reset_package_operator(cluster)
    yield
    reset_package_operator(cluster)


@pytest.fixture
def controller(cluster):
    if cluster.controller is None:
        pytest.skip("the test controller is off (PKO_AIRGAP_TEST_CONTROLLER=0)")
    return cluster.controller


# -- tests


def test_bootstrap_from_mirror(cluster, controller, mirror_registry, tmp_path):
    release = seed(mirror_registry, tmp_path)[VERSION]
    override = full_override(mirror_registry)
    documents = self_bootstrap_documents(
        mirror_prefix(mirror_registry),
        prefix_overrides=override,
        ttl_seconds_after_finished=None,
    )

    apply_all(cluster, documents)
    job = wait_finished(cluster)
    deployment = read_deployment(cluster)
    cluster_package = read_cluster_package(cluster)
    crd = read(
        cluster,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "clusterpackages.package-operator.run",
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    manager_digest = release.images["package-operator-manager"].digest

    assert condition(job, "Complete")["status"] == "True"
    assert job["status"]["succeeded"] == 1
    assert job["status"]["completionTime"] >= job["status"]["startTime"]
    assert condition(crd, "Established")["status"] == "True"
    assert (
        cluster_package["spec"]["image"]
        == PUBLIC_PREFIX + "package-operator-package:" + VERSION
    )
    assert cluster_package["spec"]["config"]["imagePrefixOverrides"] == override
    assert condition(cluster_package, "Available")["status"] == "True"
    assert condition(cluster_package, "Progressing")["status"] == "False"
    assert condition(cluster_package, "Unpacked")["status"] == "True"
    assert container["image"] == "%spackage-operator-manager@%s" % (
        mirror_prefix(mirror_registry),
        manager_digest,
    )
    assert {"name": "PKO_IMAGE_PREFIX_OVERRIDES", "value": override} in container["env"]
    assert condition(deployment, "Available")["status"] == "True"
    assert deployment["status"]["availableReplicas"] == deployment["spec"]["replicas"]
    assert (
        deployment["status"]["observedGeneration"]
        == deployment["metadata"]["generation"]
    )
    assert "handling Job %s/%s" % (NAMESPACE, JOB_NAME) in controller.log_text()


def test_bootstrap_without_overrides_omits_config(
    cluster, controller, mirror_registry, tmp_path
):
    seed(mirror_registry, tmp_path)
    # Without overrides the package image must be named at the mirror itself.
    documents = self_bootstrap_documents(
        mirror_prefix(mirror_registry), ttl_seconds_after_finished=None
    )
    container = documents[-1]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [
        "-self-bootstrap=%spackage-operator-package:%s"
        % (mirror_prefix(mirror_registry), VERSION)
    ]

    apply_all(cluster, documents)
    job = wait_finished(cluster)
    cluster_package = read_cluster_package(cluster)
    deployment = read_deployment(cluster)
    env_names = [
        entry["name"]
        for entry in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    ]

    assert condition(job, "Complete")["status"] == "True"
    assert "config" not in cluster_package["spec"]
    assert "PKO_IMAGE_PREFIX_OVERRIDES" not in env_names
    # The lock file still names quay.io, which this cluster cannot reach.
    assert condition(deployment, "Available")["status"] == "False"


@pytest.mark.parametrize(
    "case",
    ["job-image-missing", "package-image-missing", "job-image-not-rewritten"],
)
def test_missing_image_fails_job(cluster, controller, mirror_registry, tmp_path, case):
    seed(mirror_registry, tmp_path)
    override = full_override(mirror_registry)
    job_prefix = mirror_prefix(mirror_registry)
    if case == "package-image-missing":
        override = "%s=%s/elsewhere/" % (PUBLIC_PREFIX, mirror_registry.address)
    if case == "job-image-not-rewritten":
        job_prefix = PUBLIC_PREFIX
    documents = self_bootstrap_documents(
        job_prefix, prefix_overrides=override, ttl_seconds_after_finished=None
    )
    container = documents[-1]["spec"]["template"]["spec"]["containers"][0]
    if case == "job-image-missing":
        container["image"] = job_prefix + "package-operator-manager:v0.0.0-missing"
    expected = {
        "job-image-missing": (
            "ImagePullBackOff",
            'Back-off pulling image "%spackage-operator-manager:v0.0.0-missing"'
            % job_prefix,
        ),
        "package-image-missing": (
            "BackoffLimitExceeded",
            "manifest %s not found in %s/elsewhere/package-operator-package"
            % (VERSION, mirror_registry.address),
        ),
        "job-image-not-rewritten": (
            "ImagePullBackOff",
            "registry quay.io is not reachable",
        ),
    }[case]

    apply_all(cluster, documents)
    job = wait_finished(cluster)
    failed = condition(job, "Failed")

    assert failed["status"] == "True"
    assert failed["reason"] == expected[0]
    assert expected[1] in failed["message"]
    assert job["status"]["failed"] == 1
    assert "completionTime" not in job["status"]
    assert read_deployment(cluster) is None


def test_partial_override_leaves_deployment_unavailable(
    cluster, controller, mirror_registry, tmp_path
):
    seed(mirror_registry, tmp_path)
    # Only the package image is redirected, so the manager image in the lock
    # file still points at quay.io.
    package = "package-operator-package"
    override = "%s%s=%s%s" % (
        PUBLIC_PREFIX,
        package,
        mirror_prefix(mirror_registry),
        package,
    )
    documents = self_bootstrap_documents(
        mirror_prefix(mirror_registry),
        prefix_overrides=override,
        ttl_seconds_after_finished=None,
    )

    apply_all(cluster, documents)
    job = wait_finished(cluster)
    deployment = read_deployment(cluster)
    cluster_package = read_cluster_package(cluster)
    available = condition(deployment, "Available")

    assert condition(job, "Complete")["status"] == "True"
    assert available["status"] == "False"
    assert available["reason"] == "MinimumReplicasUnavailable"
    assert (
        'back-off pulling image "quay.io/package-operator/package-operator-manager@sha256:'
        in available["message"]
    )
    assert "availableReplicas" not in deployment["status"]
    assert condition(cluster_package, "Available")["status"] == "False"
    assert condition(cluster_package, "Progressing")["status"] == "True"


def test_ttl_zero_deletes_job(cluster, controller, mirror_registry, tmp_path):
    seed(mirror_registry, tmp_path)
    documents = self_bootstrap_documents(
        mirror_prefix(mirror_registry),
        prefix_overrides=full_override(mirror_registry),
        ttl_seconds_after_finished=0,
    )

    apply_all(cluster, documents)
    wait_until(lambda: read_deployment(cluster), TIMEOUT, "Deployment created")
    wait_until(lambda: read_job(cluster) is None, TIMEOUT, "Job deleted")

    assert "deleted finished Job %s/%s" % (NAMESPACE, JOB_NAME) in controller.log_text()


def test_ttl_seconds_delays_deletion(cluster, controller, mirror_registry, tmp_path):
    seed(mirror_registry, tmp_path)
    documents = self_bootstrap_documents(
        mirror_prefix(mirror_registry),
        prefix_overrides=full_override(mirror_registry),
        ttl_seconds_after_finished=4,
    )

    apply_all(cluster, documents)
    wait_finished(cluster)
    # completionTime has whole seconds, so the deletion comes about 3 to 4 s
    # after the Job finished.
    time.sleep(1)
    still_there = read_job(cluster)
    wait_until(lambda: read_job(cluster) is None, TIMEOUT, "Job deleted")

    assert still_there is not None


def test_keep_finished_jobs_option(cluster, controller, mirror_registry, tmp_path):
    seed(mirror_registry, tmp_path)
    documents = self_bootstrap_documents(
        mirror_prefix(mirror_registry),
        prefix_overrides=full_override(mirror_registry),
        ttl_seconds_after_finished=0,
    )
    controller.restart(keep_finished_jobs=True)
    try:
        apply_all(cluster, documents)
        wait_finished(cluster)
        time.sleep(2)
        job = read_job(cluster)
    finally:
        controller.restart(keep_finished_jobs=False)

    assert job is not None
    assert condition(job, "Complete")["status"] == "True"


def test_upgrade_to_second_version(cluster, controller, mirror_registry, tmp_path):
    releases = seed(mirror_registry, tmp_path, versions=(VERSION, UPGRADE_VERSION))
    override = full_override(mirror_registry)

    def documents(version):
        return self_bootstrap_documents(
            mirror_prefix(mirror_registry),
            version=version,
            prefix_overrides=override,
            ttl_seconds_after_finished=None,
        )

    apply_all(cluster, documents(VERSION))
    first_job = wait_finished(cluster)
    first_deployment = read_deployment(cluster)

    # A Job's pod template is immutable, so the old Job must go first.
    with pytest.raises(DynamicApiError) as raised:
        apply_all(cluster, documents(UPGRADE_VERSION))
    immutable = json.loads(raised.value.body)["message"]
    delete_job(cluster)
    apply_all(cluster, documents(UPGRADE_VERSION))
    second_job = wait_finished(cluster)
    deployment = read_deployment(cluster)
    cluster_package = read_cluster_package(cluster)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    upgraded_digest = (
        releases[UPGRADE_VERSION].images["package-operator-manager"].digest
    )

    assert condition(first_job, "Complete")["status"] == "True"
    assert "field is immutable" in immutable
    assert condition(second_job, "Complete")["status"] == "True"
    assert second_job["metadata"]["uid"] != first_job["metadata"]["uid"]
    assert cluster_package["spec"]["image"].endswith(":" + UPGRADE_VERSION)
    assert cluster_package["metadata"]["generation"] == 2
    assert cluster_package["status"]["revision"] == 2
    assert image.endswith("@" + upgraded_digest)
    assert (
        deployment["metadata"]["generation"]
        == first_deployment["metadata"]["generation"] + 1
    )
    assert (
        deployment["status"]["observedGeneration"]
        == deployment["metadata"]["generation"]
    )
    assert condition(deployment, "Available")["status"] == "True"


@pytest.fixture
def private_registry(tmp_path, skopeo_env):
    """A basic-auth registry whose credentials the controller does not have."""
    with start_registry(str(tmp_path), "private", username="puller") as registry:
        yield registry


def pull_secret(registry):
    token = base64.b64encode(
        ("%s:%s" % (registry.username, registry.password)).encode("utf-8")
    ).decode("ascii")
    config = json.dumps({"auths": {registry.address: {"auth": token}}})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "mirror-pull", "namespace": NAMESPACE},
        "data": {
            ".dockerconfigjson": base64.b64encode(config.encode("utf-8")).decode(
                "ascii"
            )
        },
    }


@pytest.mark.parametrize(
    "with_secret", [True, False], ids=["pull-secret", "no-pull-secret"]
)
def test_private_registry_needs_pull_secret(
    cluster, controller, private_registry, tmp_path, with_secret
):
    seed(
        private_registry,
        tmp_path,
        username=private_registry.username,
        password=private_registry.password,
    )
    documents = self_bootstrap_documents(
        mirror_prefix(private_registry),
        prefix_overrides=full_override(private_registry),
        ttl_seconds_after_finished=None,
    )
    if with_secret:
        documents[-1]["spec"]["template"]["spec"]["imagePullSecrets"] = [
            {"name": "mirror-pull"}
        ]
        documents.insert(1, pull_secret(private_registry))

    apply_all(cluster, documents)
    job = wait_finished(cluster)

    if with_secret:
        assert condition(job, "Complete")["status"] == "True"
    else:
        assert condition(job, "Failed")["reason"] == "ImagePullBackOff"
        assert "requires authentication" in condition(job, "Failed")["message"]
    assert private_registry.password not in controller.log_text()


def test_bootstrap_from_tls_registry(cluster, controller, tls_registry, tmp_path):
    seed(tls_registry, tmp_path, tls_verify=True, cert_dir=tls_registry.cert_dir)
    documents = self_bootstrap_documents(
        mirror_prefix(tls_registry),
        prefix_overrides=full_override(tls_registry),
        ttl_seconds_after_finished=None,
    )

    apply_all(cluster, documents)
    job = wait_finished(cluster)

    assert condition(job, "Complete")["status"] == "True"
    assert condition(read_deployment(cluster), "Available")["status"] == "True"


@pytest.mark.parametrize(
    "case, expected",
    [
        (
            "no-self-bootstrap",
            "no container has a -self-bootstrap=<package image> argument",
        ),
        ("override-without-equals", "has no '='"),
    ],
    ids=["no-self-bootstrap", "override-without-equals"],
)
def test_invalid_job_fails_and_controller_continues(
    cluster, controller, mirror_registry, tmp_path, case, expected
):
    seed(mirror_registry, tmp_path)
    good = self_bootstrap_documents(
        mirror_prefix(mirror_registry),
        prefix_overrides=full_override(mirror_registry),
        ttl_seconds_after_finished=None,
    )
    bad = self_bootstrap_documents(
        mirror_prefix(mirror_registry),
        prefix_overrides=full_override(mirror_registry),
        ttl_seconds_after_finished=None,
    )
    container = bad[-1]["spec"]["template"]["spec"]["containers"][0]
    if case == "no-self-bootstrap":
        container["args"] = ["--enable-leader-election"]
    else:
        for entry in container["env"]:
            if entry["name"] == "PKO_IMAGE_PREFIX_OVERRIDES":
                entry["value"] = PUBLIC_PREFIX

    apply_all(cluster, bad)
    failed_job = wait_finished(cluster)
    delete_job(cluster)
    apply_all(cluster, good)
    good_job = wait_finished(cluster)

    assert condition(failed_job, "Failed")["status"] == "True"
    assert expected in condition(failed_job, "Failed")["message"]
    assert condition(good_job, "Complete")["status"] == "True"
    assert controller.process.poll() is None
