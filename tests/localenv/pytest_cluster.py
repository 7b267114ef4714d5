# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""pytest fixtures for real control planes and the PKO bootstrap test controller.

Import them into a test folder's conftest.py together with the registry
fixtures that they use::

    from localenv.pytest_registry import *  # noqa: F401,F403
    from localenv.pytest_cluster import *  # noqa: F401,F403

``cluster`` starts one control plane for the session and the test controller
next to it. The controller trusts the CA of the ``tls_registry`` fixture and
has the credentials of ``auth_registry``.

To test against a real cluster instead, set ``PKO_AIRGAP_TEST_KUBECONFIG``
to its kubeconfig (several paths separated by ``:`` for fleet tests). Then
no control plane starts, and with ``PKO_AIRGAP_TEST_CONTROLLER=0`` no
controller starts either, because a real Package Operator does its work.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Sequence

import pytest
import yaml
from kubernetes import config as kube_config
from kubernetes import dynamic
from kubernetes.dynamic.exceptions import NotFoundError
from kubernetes.dynamic.resource import ResourceList

from .controlplane import ControlPlane, build_binaries, parent_death_signal

__all__ = [
    "Cluster",
    "ControllerProcess",
    "apply",
    "cluster",
    "cluster_factory",
    "controller_registry_access",
    "controlplane_bin_dir",
    "namespace",
    "purge_namespace",
    "self_bootstrap_documents",
    "wait_until",
]

KUBECONFIG_ENV = "PKO_AIRGAP_TEST_KUBECONFIG"
CONTROLLER_ENV = "PKO_AIRGAP_TEST_CONTROLLER"
TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELF_BOOTSTRAP_FIXTURE = os.path.join(
    TESTS_DIR, "fixtures", "pko-v1.18.2", "self-bootstrap-job.yaml"
)
FIXTURE_VERSION = "v1.18.2"
PUBLIC_PREFIX = "quay.io/package-operator/"
TEST_FIELD_MANAGER = "pko-airgap-tests"

CONTROLLER_READY_TIMEOUT_SECONDS = 30.0
CONTROLLER_STOP_TIMEOUT_SECONDS = 10.0
# How long purge_namespace() waits for a given cluster's namespace controller
# before it removes the namespace's contents itself.
NAMESPACE_CONTROLLER_GRACE_SECONDS = 10.0


def external_kubeconfigs() -> List[str]:
    """Return the kubeconfig paths in ``$PKO_AIRGAP_TEST_KUBECONFIG``, if any."""
    value = os.environ.get(KUBECONFIG_ENV, "")
    return [path for path in value.split(os.pathsep) if path]


def controller_enabled() -> bool:
    """Return False when ``$PKO_AIRGAP_TEST_CONTROLLER`` is ``0``."""
    return os.environ.get(CONTROLLER_ENV, "1") != "0"


class ControllerProcess:
    """The PKO bootstrap test controller as a child process.

    Its log goes to ``<directory>/pko-controller.log``. ``start()`` returns
    once the controller has listed the Jobs it watches.
    """

    def __init__(
        self,
        kubeconfig: str,
        directory: str,
        keep_finished_jobs: bool = False,
        registry_ca_files: Sequence[str] = (),
        registry_auth_file: Optional[str] = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.directory = directory
        self.keep_finished_jobs = keep_finished_jobs
        self.registry_ca_files = list(registry_ca_files)
        self.registry_auth_file = registry_auth_file
        self.extra_args = list(extra_args)
        self.log_path = os.path.join(directory, "pko-controller.log")
        self._ready_file = os.path.join(directory, "pko-controller.ready")
        self.process: Optional[subprocess.Popen] = None

    def command(self) -> List[str]:
        argv = [
            sys.executable,
            "-m",
            "localenv.pko_controller",
            "--kubeconfig",
            self.kubeconfig,
            "--ready-file",
            self._ready_file,
        ]
        if self.keep_finished_jobs:
            argv.append("--keep-finished-jobs")
        for path in self.registry_ca_files:
            argv += ["--registry-ca-file", path]
        if self.registry_auth_file:
            argv += ["--registry-auth-file", self.registry_auth_file]
        return argv + self.extra_args

    def start(self) -> "ControllerProcess":
        os.makedirs(self.directory, exist_ok=True)
        if os.path.exists(self._ready_file):
            os.unlink(self._ready_file)
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            [TESTS_DIR]
            + [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
                preexec_fn=parent_death_signal(signal.SIGTERM),
            )

        deadline = time.monotonic() + CONTROLLER_READY_TIMEOUT_SECONDS
        while not os.path.exists(self._ready_file):
            if self.process.poll() is not None:
                raise RuntimeError(
                    "the PKO test controller exited with code %d during start-up. Its "
                    "log %s ends with:\n%s"
                    % (self.process.returncode, self.log_path, self.log_tail())
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    "the PKO test controller did not list Jobs within %.0f s. Its log "
                    "%s ends with:\n%s"
                    % (CONTROLLER_READY_TIMEOUT_SECONDS, self.log_path, self.log_tail())
                )
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(CONTROLLER_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, **changes) -> "ControllerProcess":
        """Stop, change attributes such as ``keep_finished_jobs``, and start again."""
        self.stop()
        for name, value in changes.items():
            if not hasattr(self, name):
                raise AttributeError("ControllerProcess has no attribute %r" % name)
            setattr(self, name, value)
        return self.start()

    def log_text(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "".join(self.log_text().splitlines(keepends=True)[-lines:])


@dataclass
class Cluster:
    """A cluster under test: its kubeconfig, and what runs it if this session started it.

    ``control_plane`` is None for a cluster given by ``$PKO_AIRGAP_TEST_KUBECONFIG``,
    and ``controller`` is None when the test controller is off.
    """

    kubeconfig: str
    control_plane: Optional[ControlPlane] = None
    controller: Optional[ControllerProcess] = None
    _client: Optional[dynamic.DynamicClient] = field(default=None, repr=False)

    @property
    def is_local(self) -> bool:
        return self.control_plane is not None

    @property
    def client(self) -> dynamic.DynamicClient:
        """A DynamicClient for this cluster, made on first use."""
        if self._client is None:
            api_client = kube_config.new_client_from_config(config_file=self.kubeconfig)
            self._client = dynamic.DynamicClient(api_client)
        return self._client

    def resource(self, api_version: str, kind: str):
        return self.client.resources.get(api_version=api_version, kind=kind)


@pytest.fixture(scope="session")
def controlplane_bin_dir() -> str:
    """The directory holding etcd and kube-apiserver, built on first use.

    The build takes 10-15 minutes the first time; later calls return within
    a second. Run ``hack/build-controlplane.sh`` beforehand to see progress.
    """
    return build_binaries()


@pytest.fixture(scope="session")
def controller_registry_access(tmp_path_factory, tls_registry, auth_registry) -> dict:
    """Controller options that let it pull from the TLS and the auth registry."""
    directory = str(tmp_path_factory.mktemp("controller-registry-access"))
    auth_file = os.path.join(directory, "auth.json")
    token = base64.b64encode(
        ("%s:%s" % (auth_registry.username, auth_registry.password)).encode("utf-8")
    ).decode("ascii")
    descriptor = os.open(auth_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"auths": {auth_registry.address: {"auth": token}}}, handle)
    return {
        "registry_ca_files": [os.path.join(tls_registry.cert_dir, "ca.crt")],
        "registry_auth_file": auth_file,
    }


def _start_clusters(
    count: int,
    directory: str,
    registry_access: dict,
    with_controller: bool,
    keep_finished_jobs: bool,
    bin_dir_getter: Callable[[], str],
    started: List[Cluster],
) -> List[Cluster]:
    given = external_kubeconfigs()
    if given and count > len(given):
        pytest.skip(
            "this test needs %d clusters and %s lists %d"
            % (count, KUBECONFIG_ENV, len(given))
        )

    clusters = []
    for number in range(count):
        name = "cluster-%d" % (len(started) + 1)
        if given:
            cluster = Cluster(kubeconfig=given[number])
        else:
            control_plane = ControlPlane(directory, name=name, bin_dir=bin_dir_getter())
            cluster = Cluster(kubeconfig="", control_plane=control_plane)
        # Appended before start-up so that the teardown also stops a cluster
        # whose controller failed to start.
        started.append(cluster)

        if cluster.control_plane is not None:
            cluster.control_plane.start()
            cluster.kubeconfig = cluster.control_plane.kubeconfig
        if with_controller and controller_enabled():
            cluster.controller = ControllerProcess(
                cluster.kubeconfig,
                os.path.join(directory, name),
                keep_finished_jobs=keep_finished_jobs,
                **registry_access,
            )
            cluster.controller.start()
        clusters.append(cluster)
    return clusters


def _stop_clusters(clusters: List[Cluster]) -> None:
    for cluster in reversed(clusters):
        if cluster.controller is not None:
            cluster.controller.stop()
        if cluster.control_plane is not None:
            cluster.control_plane.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory, controller_registry_access, request) -> Iterator[Cluster]:
    """One cluster for the session, with the test controller unless it is off."""
    started: List[Cluster] = []
    try:
        (found,) = _start_clusters(
            1,
            str(tmp_path_factory.mktemp("cluster")),
            controller_registry_access,
            True,
            False,
            lambda: request.getfixturevalue("controlplane_bin_dir"),
            started,
        )
        yield found
    finally:
        _stop_clusters(started)


@pytest.fixture
def cluster_factory(
    tmp_path, controller_registry_access, request
) -> Iterator[Callable]:
    """Return ``make(count, controller=True, keep_finished_jobs=False)`` -> [Cluster].

    Every cluster that the test makes is stopped when the test ends.
    """
    started: List[Cluster] = []

    def make(count: int, controller: bool = True, keep_finished_jobs: bool = False):
        return _start_clusters(
            count,
            str(tmp_path),
            controller_registry_access,
            controller,
            keep_finished_jobs,
            lambda: request.getfixturevalue("controlplane_bin_dir"),
            started,
        )

    try:
        yield make
    finally:
        _stop_clusters(started)


def purge_namespace(cluster: Cluster, name: str, timeout: float = 60.0) -> None:
    """Delete a namespace and everything in it, and wait until it is gone.

    A real cluster's namespace controller empties and removes a deleted
    namespace. The local control plane has none, so for it, and for a given
    cluster whose namespace is still there after
    NAMESPACE_CONTROLLER_GRACE_SECONDS, this function does that work. It
    deletes the objects of every namespaced resource type, then clears the
    namespace's finalizers through the ``finalize`` subresource.
    """
    namespaces = cluster.resource("v1", "Namespace")
    try:
        namespaces.delete(name=name)
    except NotFoundError:
        return

    def gone() -> bool:
        return name not in [item.metadata.name for item in namespaces.get().items]

    if not cluster.is_local:
        try:
            wait_until(gone, NAMESPACE_CONTROLLER_GRACE_SECONDS, "namespace deleted")
            return
        except TimeoutError:
            pass

    for resource in _deletable_namespaced_resources(cluster):
        _delete_all(cluster, resource, name)
    try:
        current = namespaces.get(name=name).to_dict()
    except NotFoundError:
        return
    current["spec"]["finalizers"] = []
    cluster.client.request("put", "/api/v1/namespaces/%s/finalize" % name, body=current)
    wait_until(gone, timeout, "namespace %s deleted" % name)


def _deletable_namespaced_resources(cluster: Cluster) -> list:
    found = []
    for resource in cluster.client.resources.search():
        # Discovery also returns a ResourceList per type, which is skipped.
        if isinstance(resource, ResourceList):
            continue
        verbs = set(getattr(resource, "verbs", None) or [])
        if (
            resource.namespaced
            and "deletecollection" in verbs
            and "/" not in resource.name
            and resource.preferred
        ):
            found.append(resource)
    return found


def _delete_all(cluster: Cluster, resource, namespace: str) -> None:
    # Background propagation, as the namespace controller uses. The default
    # for Jobs is orphan, which adds a finalizer that only the garbage
    # collector removes, and no garbage collector runs here.
    options = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": "Background",
    }
    try:
        cluster.client.request(
            "delete", resource.path(namespace=namespace), body=options
        )
    except NotFoundError:
        return

    # An object with finalizers stays until their controllers remove them.
    # None of those controllers runs here, so clear them.
    for item in resource.get(namespace=namespace).items:
        if item.metadata.finalizers:
            cluster.client.patch(
                resource,
                body={"metadata": {"finalizers": None}},
                name=item.metadata.name,
                namespace=namespace,
                content_type="application/merge-patch+json",
            )


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return "t-%s-%s" % (slug, secrets.token_hex(3))


@pytest.fixture
def namespace(cluster: Cluster, request) -> Iterator[str]:
    """A new namespace for one test, deleted with its contents afterwards."""
    name = _namespace_name(request.node.name)
    cluster.resource("v1", "Namespace").create(
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    try:
        yield name
    finally:
        purge_namespace(cluster, name)


def wait_until(
    check: Callable[[], object], timeout: float, what: str, interval: float = 0.1
):
    """Call ``check`` until it returns a true value, and return that value.

    Raises TimeoutError naming ``what`` and the last value after ``timeout``
    seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(
                "%s not reached within %.0f s (last value: %r)" % (what, timeout, value)
            )
        time.sleep(interval)


def apply(cluster: Cluster, document: dict) -> dict:
    """Server-side apply one object as the tests' field manager and return the result."""
    resource = cluster.resource(document["apiVersion"], document["kind"])
    return cluster.client.server_side_apply(
        resource,
        body=document,
        name=document["metadata"]["name"],
        namespace=(
            document["metadata"].get("namespace") if resource.namespaced else None
        ),
        field_manager=TEST_FIELD_MANAGER,
        force_conflicts=True,
    ).to_dict()


def self_bootstrap_documents(
    job_image_prefix: str,
    version: str = FIXTURE_VERSION,
    prefix_overrides: Optional[str] = None,
    ttl_seconds_after_finished: Optional[int] = 0,
) -> List[dict]:
    """Return Package Operator's v1.18.2 self-bootstrap manifest, adjusted for a test.

    The four documents keep their names. The Job's image gets
    ``job_image_prefix`` in place of ``quay.io/package-operator/``, the tags
    become ``version``, and ``PKO_IMAGE_PREFIX_OVERRIDES`` gets
    ``prefix_overrides`` when given. ``ttl_seconds_after_finished=None``
    removes the field so that a finished Job stays.
    """
    with open(SELF_BOOTSTRAP_FIXTURE, encoding="utf-8") as handle:
        text = handle.read().replace(":" + FIXTURE_VERSION, ":" + version)
    documents = list(yaml.safe_load_all(text))
    job = documents[-1]
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["image"] = job_image_prefix + container["image"][len(PUBLIC_PREFIX) :]
    if prefix_overrides is not None:
        for entry in container["env"]:
            if entry["name"] == "PKO_IMAGE_PREFIX_OVERRIDES":
                entry["value"] = prefix_overrides
    if ttl_seconds_after_finished is None:
        del job["spec"]["ttlSecondsAfterFinished"]
    else:
        job["spec"]["ttlSecondsAfterFinished"] = ttl_seconds_after_finished
    return documents
