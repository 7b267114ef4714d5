# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The watch loop: bootstrap each new Job, then delete finished Jobs after their TTL."""

from __future__ import annotations

import base64
import dataclasses
import heapq
import json
import logging
import os
import queue
import threading
import time
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from kubernetes import dynamic
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError

from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixMatcher,
    PrefixOverrideError,
)

from .package import (
    PACKAGE_ROOT,
    BootstrapError,
    pinned_lock_images,
    read_package,
    render_template,
    yaml_documents,
)
from .pull import ImagePullError, RegistryClient, parse_docker_config
from .status import (
    PREFIX_OVERRIDES_ENV,
    BootstrapRequest,
    cluster_package_status,
    deployment_status,
    job_complete_status,
    job_failed_status,
    job_finish_state,
    job_running_status,
    now_rfc3339,
    parse_bootstrap_job,
    parse_rfc3339,
)

LOG = logging.getLogger("localenv.pko_controller")

DEFAULT_NAMESPACE = "package-operator-system"
DEFAULT_JOB_NAME = "package-operator-bootstrap"
DEFAULT_PACKAGE_NAME = "package-operator"
CLUSTER_PACKAGE_API_VERSION = "package-operator.run/v1alpha1"

# Field managers: one for the objects Package Operator would own, one for the
# status that the kubelet and the job, deployment and TTL controllers write.
PACKAGE_MANAGER = "package-operator"
STATUS_MANAGER = "pko-airgap-test-controller"

CRD_ESTABLISHED_TIMEOUT_SECONDS = 30.0
WATCH_TIMEOUT_SECONDS = 30
WATCH_RETRY_SECONDS = 1.0
WATCH_RETRY_MAX_SECONDS = 30.0
# The event loop wakes at least this often to notice a stop request.
LOOP_WAKE_SECONDS = 0.5
BACKOFF_LIMIT_MESSAGE = "Job has reached the specified backoff limit"


@dataclasses.dataclass
class ControllerConfig:
    """Names the controller watches and how it treats finished Jobs."""

    namespace: str = DEFAULT_NAMESPACE
    job_name: str = DEFAULT_JOB_NAME
    package_name: str = DEFAULT_PACKAGE_NAME
    delete_finished_jobs: bool = True
    ready_file: Optional[str] = None


class BootstrapController:
    """Watch the bootstrap Job and run the self-bootstrap once for each new Job.

    One thread watches Jobs and queues the events. The main thread handles
    them one at a time and deletes finished Jobs when their TTL expires.
    """

    def __init__(
        self,
        client: dynamic.DynamicClient,
        registry: RegistryClient,
        config: ControllerConfig,
    ) -> None:
        self.client = client
        self.registry = registry
        self.config = config
        self._jobs = client.resources.get(api_version="batch/v1", kind="Job")
        self._events: "queue.Queue[Tuple[str, dict]]" = queue.Queue()
        self._stop = threading.Event()
        self._handled: Set[str] = set()
        self._ttl_heap: List[Tuple[float, str, str]] = []
        self._ttl_scheduled: Set[str] = set()
        self._watch_failures = 0

    def stop(self) -> None:
        """Make :meth:`run` return soon. Safe to call from a signal handler."""
        self._stop.set()

    def run(self) -> None:
        """Handle Job events until :meth:`stop` is called."""
        LOG.info(
            "started: watching Job %s/%s; finished Jobs are %s",
            self.config.namespace,
            self.config.job_name,
            (
                "deleted after ttlSecondsAfterFinished"
                if self.config.delete_finished_jobs
                else "kept"
            ),
        )
        watcher = threading.Thread(
            target=self._watch_jobs, name="job-watch", daemon=True
        )
        watcher.start()

        while not self._stop.is_set():
            try:
                event_type, job = self._events.get(timeout=self._seconds_to_wake())
            except queue.Empty:
                pass
            else:
                self._dispatch(event_type, job)
            self._delete_expired_jobs()
        LOG.info("stopped")

    def _seconds_to_wake(self) -> float:
        if not self._ttl_heap:
            return LOOP_WAKE_SECONDS
        return max(0.0, min(LOOP_WAKE_SECONDS, self._ttl_heap[0][0] - time.time()))

    def _watch_jobs(self) -> None:
        selector = "metadata.name=%s" % self.config.job_name
        while not self._stop.is_set():
            try:
                self._list_and_watch(selector)
            # The watch thread must survive any error, so catch them all.
            except Exception as error:  # noqa: BLE001
                if self._stop.is_set():
                    return
                self._watch_failures += 1
                failures = self._watch_failures
                # Doubling the delay keeps a stopped API server from filling the log.
                delay = min(
                    WATCH_RETRY_MAX_SECONDS, WATCH_RETRY_SECONDS * 2 ** (failures - 1)
                )
                LOG.warning(
                    "watch of Job %s/%s failed (%d in a row), listing again in %.0f s: %s",
                    self.config.namespace,
                    self.config.job_name,
                    failures,
                    delay,
                    error,
                )
                self._stop.wait(delay)

    def _list_and_watch(self, selector: str) -> None:
        listing = self._jobs.get(
            namespace=self.config.namespace, field_selector=selector
        )
        self._watch_failures = 0
        for item in listing.to_dict().get("items") or []:
            self._events.put(("ADDED", item))
        if self.config.ready_file:
            _write_ready_file(self.config.ready_file)

        version = listing.metadata.resourceVersion
        while not self._stop.is_set():
            for event in self.client.watch(
                self._jobs,
                namespace=self.config.namespace,
                field_selector=selector,
                resource_version=version,
                timeout=WATCH_TIMEOUT_SECONDS,
            ):
                raw = event["raw_object"]
                if event["type"] == "ERROR" and raw.get("code") == 410:
                    # 410 Gone: the resource version is too old, so list again.
                    LOG.info("watch of Jobs expired (410 Gone), listing again")
                    return
                if event["type"] == "ERROR":
                    raise ApiException(
                        status=raw.get("code"), reason=raw.get("message")
                    )
                version = raw["metadata"]["resourceVersion"]
                if event["type"] != "BOOKMARK":
                    self._events.put((event["type"], raw))
                if self._stop.is_set():
                    return

    def _dispatch(self, event_type: str, job: dict) -> None:
        metadata = job.get("metadata") or {}
        name = "%s/%s" % (metadata.get("namespace"), metadata.get("name"))
        uid = metadata.get("uid")
        try:
            if event_type == "DELETED":
                self._handled.discard(uid)
                LOG.info("Job %s (uid %s) deleted", name, uid)
                return
            finished = job_finish_state(job)
            if finished is not None:
                # Also covers Jobs that finished while the controller was down.
                self._handled.add(uid)
                self._schedule_ttl(job, finished[1])
                return
            # The status writes of handle_job come back as MODIFIED events.
            if uid in self._handled:
                return
            self._handled.add(uid)
            self.handle_job(job)
        except Exception:  # noqa: BLE001 - a bad object must not stop the controller
            LOG.exception("handling Job %s (uid %s) failed", name, uid)

    def _schedule_ttl(self, job: dict, finished_at: str) -> None:
        uid = job["metadata"]["uid"]
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if not self.config.delete_finished_jobs or ttl is None:
            return
        if uid in self._ttl_scheduled:
            return

        deadline = parse_rfc3339(finished_at) + ttl
        self._ttl_scheduled.add(uid)
        heapq.heappush(self._ttl_heap, (deadline, uid, job["metadata"]["name"]))
        LOG.info(
            "Job %s/%s (uid %s) finished at %s; deleting it %d s later",
            self.config.namespace,
            job["metadata"]["name"],
            uid,
            finished_at,
            ttl,
        )

    def _delete_expired_jobs(self) -> None:
        while self._ttl_heap and self._ttl_heap[0][0] <= time.time():
            deadline, uid, name = heapq.heappop(self._ttl_heap)
            self._ttl_scheduled.discard(uid)
            self._delete_job(name, uid)

    def _delete_job(self, name: str, uid: str) -> None:
        # The UID precondition keeps a newer Job that reuses the name. The
        # TTL-after-finished controller of Kubernetes v1.37.2 deletes with
        # foreground propagation, whose finalizer only the garbage collector
        # removes. No garbage collector runs here, so delete in the background.
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {"uid": uid},
        }
        job = "%s/%s (uid %s)" % (self.config.namespace, name, uid)
        try:
            self.client.delete(
                self._jobs, name=name, namespace=self.config.namespace, body=options
            )
        except NotFoundError:
            LOG.info("finished Job %s is already gone", job)
            return
        except DynamicApiError as error:
            LOG.error("deleting finished Job %s failed: %s", job, error.summary())
            return
        LOG.info("deleted finished Job %s", job)

    def handle_job(self, job: dict) -> None:
        """Run one bootstrap Job and write its outcome to the Job status.

        NOTE: On a real cluster a missing image keeps the pod in
        ImagePullBackOff until activeDeadlineSeconds (1800 s in Package
        Operator's manifest) fails the Job. This controller fails the Job at
        once, so that tests need not wait.
        """
        name = job["metadata"]["name"]
        LOG.info(
            "handling Job %s/%s (uid %s)",
            self.config.namespace,
            name,
            job["metadata"]["uid"],
        )
        started = (job.get("status") or {}).get("startTime") or now_rfc3339()
        self._apply_job_status(name, job_running_status(started))

        try:
            request = parse_bootstrap_job(job)
            credentials = self._pull_secret_credentials(request.pull_secret_names)
        except (BootstrapError, KeyError, TypeError, ValueError) as error:
            self._fail_job(
                name, started, "BackoffLimitExceeded", _backoff_message(error)
            )
            return

        for image in request.container_images:
            try:
                self.registry.check_image(image, credentials)
            except ImagePullError as error:
                message = 'Back-off pulling image "%s": ErrImagePull: %s' % (
                    image,
                    error,
                )
                self._fail_job(name, started, "ImagePullBackOff", message)
                return

        try:
            deployments = self._bootstrap(request, credentials)
        except (BootstrapError, ImagePullError, PrefixOverrideError) as error:
            self._fail_job(
                name, started, "BackoffLimitExceeded", _backoff_message(error)
            )
            return
        except DynamicApiError as error:
            reason = "the API server rejected a request: %s" % error.summary()
            self._fail_job(
                name, started, "BackoffLimitExceeded", _backoff_message(reason)
            )
            return

        self._apply_job_status(name, job_complete_status(started, now_rfc3339()))
        LOG.info(
            "Job %s/%s complete: ClusterPackage %s has image %s, Deployments: %s",
            self.config.namespace,
            name,
            self.config.package_name,
            request.package_image,
            ", ".join(deployments) or "none",
        )

    def _bootstrap(self, request: BootstrapRequest, credentials) -> List[str]:
        """Install the package that ``request`` names and return its Deployment names."""
        # PKO's own matching: a plain string prefix, longest rule first.
        matcher = PrefixMatcher(request.prefix_overrides)
        package_reference = matcher.rewrite(request.package_image)
        LOG.info(
            "pulling package image %s (written as %s)",
            package_reference,
            request.package_image,
        )
        files = self.registry.pull_files(package_reference, PACKAGE_ROOT, credentials)
        package = read_package(files, package_reference)

        for crd in package.crds:
            self._apply(crd)
        for crd in package.crds:
            self._wait_established(crd["metadata"]["name"])
        cluster_package = self._apply_cluster_package(request)

        images = pinned_lock_images(package.lock_images, matcher)
        documents = []
        for path, text in sorted(package.templates.items()):
            rendered = render_template(path, text, images)
            documents += yaml_documents(path, rendered.encode("utf-8"))

        deployments, unavailable = [], []
        for document in documents:
            is_deployment = document.get("kind") == "Deployment"
            if is_deployment and request.prefix_overrides:
                # Package Operator's manager Deployment carries the override in
                # this variable. The test package's template has no such entry.
                _set_env(document, PREFIX_OVERRIDES_ENV, request.prefix_overrides)
            applied = self._apply(document)
            if is_deployment:
                deployments.append(applied["metadata"]["name"])
                problem = self._write_deployment_status(applied, credentials)
                if problem:
                    unavailable.append(problem)

        status = cluster_package_status(
            cluster_package, package_reference, unavailable, now_rfc3339()
        )
        self._apply_status(_status_document(cluster_package, status))
        return deployments

    def _pull_secret_credentials(
        self, names: Sequence[str]
    ) -> Dict[str, Tuple[str, str]]:
        secrets = self.client.resources.get(api_version="v1", kind="Secret")
        credentials: Dict[str, Tuple[str, str]] = {}
        for name in names:
            secret_name = "%s/%s" % (self.config.namespace, name)
            try:
                secret = secrets.get(
                    name=name, namespace=self.config.namespace
                ).to_dict()
            except NotFoundError:
                # The kubelet also pulls without a pull secret that is missing.
                LOG.warning("pull secret %s not found; pulling without it", secret_name)
                continue
            data = (secret.get("data") or {}).get(".dockerconfigjson")
            if not data:
                LOG.warning(
                    "pull secret %s has no .dockerconfigjson; ignoring it", secret_name
                )
                continue
            credentials.update(parse_docker_config(json.loads(base64.b64decode(data))))
        return credentials

    def _write_deployment_status(self, deployment: dict, credentials) -> Optional[str]:
        """Write Deployment status as if its pods ran, and return why it is unavailable.

        NOTE: The status is written once. A real cluster retries a failed
        pull, but this controller does not notice an image pushed later.
        """
        namespace = deployment["metadata"]["namespace"]
        name = deployment["metadata"]["name"]
        pod_spec = deployment["spec"]["template"]["spec"]
        problem = None
        for container in (
            list(pod_spec.get("initContainers") or []) + pod_spec["containers"]
        ):
            try:
                self.registry.check_image(container["image"], credentials)
            except ImagePullError as error:
                problem = 'Deployment %s/%s: back-off pulling image "%s": %s' % (
                    namespace,
                    name,
                    container["image"],
                    error,
                )
                break

        status = deployment_status(deployment, problem, now_rfc3339())
        self._apply_status(_status_document(deployment, status))
        if problem is None:
            LOG.info("Deployment %s/%s is available", namespace, name)
        else:
            LOG.error("%s", problem)
        return problem

    def _wait_established(self, name: str) -> None:
        # kube-apiserver sets Established itself once the CRD is served.
        crds = self.client.resources.get(
            api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
        )
        deadline = time.monotonic() + CRD_ESTABLISHED_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            crd = crds.get(name=name).to_dict()
            for entry in (crd.get("status") or {}).get("conditions") or []:
                if entry.get("type") == "Established" and entry.get("status") == "True":
                    return
            time.sleep(0.1)
        raise BootstrapError(
            "CRD %s is not Established %.0f s after it was applied"
            % (name, CRD_ESTABLISHED_TIMEOUT_SECONDS)
        )

    def _apply_cluster_package(self, request: BootstrapRequest) -> dict:
        spec: dict = {"image": request.package_image}
        if request.prefix_overrides:
            spec["config"] = {"imagePrefixOverrides": request.prefix_overrides}
        return self._apply(
            {
                "apiVersion": CLUSTER_PACKAGE_API_VERSION,
                "kind": "ClusterPackage",
                "metadata": {"name": self.config.package_name},
                "spec": spec,
            }
        )

    def _apply_job_status(self, name: str, status: dict) -> None:
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": self.config.namespace},
        }
        self._apply_status(_status_document(job, status))

    def _fail_job(self, name: str, started: str, reason: str, message: str) -> None:
        LOG.error(
            "Job %s/%s failed: %s: %s", self.config.namespace, name, reason, message
        )
        self._apply_job_status(
            name, job_failed_status(started, reason, message, now_rfc3339())
        )

    def _apply(self, document: dict) -> dict:
        """Server-side apply ``document`` as Package Operator and return the result."""
        return self._server_side_apply(document, None, PACKAGE_MANAGER)

    def _apply_status(self, document: dict) -> dict:
        """Server-side apply ``document`` to the status subresource."""
        return self._server_side_apply(document, "status", STATUS_MANAGER)

    def _server_side_apply(
        self, document: dict, subresource: Optional[str], manager: str
    ) -> dict:
        resource = self.client.resources.get(
            api_version=document["apiVersion"], kind=document["kind"]
        )
        namespace = (
            document["metadata"].get("namespace") if resource.namespaced else None
        )
        target = resource.subresources[subresource] if subresource else resource
        # Every apply sends the complete intent of its field manager, so a
        # field left out is removed, and force takes fields from other managers.
        return self.client.server_side_apply(
            target,
            body=document,
            name=document["metadata"]["name"],
            namespace=namespace,
            field_manager=manager,
            force_conflicts=True,
        ).to_dict()


def _backoff_message(error: object) -> str:
    return "%s: bootstrap failed: %s" % (BACKOFF_LIMIT_MESSAGE, error)


def _status_document(obj: Mapping, status: dict) -> dict:
    metadata = {"name": obj["metadata"]["name"]}
    if obj["metadata"].get("namespace"):
        metadata["namespace"] = obj["metadata"]["namespace"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": metadata,
        "status": status,
    }


def _set_env(deployment: dict, name: str, value: str) -> None:
    for container in deployment["spec"]["template"]["spec"].get("containers") or []:
        env = [
            entry for entry in container.get("env") or [] if entry.get("name") != name
        ]
        env.append({"name": name, "value": value})
        container["env"] = env


def _write_ready_file(path: str) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write("%d\n" % os.getpid())
    os.replace(temporary, path)
