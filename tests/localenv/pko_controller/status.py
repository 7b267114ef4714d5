# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bootstrap Job parsing and the status documents the missing controllers write.

The API server validates Job status updates (Kubernetes v1.37.2,
``pkg/registry/batch/job/strategy.go``). A Job may get ``Complete`` only
together with ``SuccessCriteriaMet``, and ``Failed`` only together with
``FailureTarget``. A finished Job needs ``startTime`` and no active pods,
and only a complete Job may have ``completionTime``.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from typing import List, Mapping, Optional, Tuple

from .package import BootstrapError

SELF_BOOTSTRAP_FLAGS = ("-self-bootstrap=", "--self-bootstrap=")
PREFIX_OVERRIDES_ENV = "PKO_IMAGE_PREFIX_OVERRIDES"
REGISTRY_HOST_OVERRIDES_ENV = "PKO_REGISTRY_HOST_OVERRIDES"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

COMPLETIONS_REACHED = "Reached expected number of succeeded pods"


def now_rfc3339() -> str:
    """Return the current UTC time in the whole-second form Kubernetes stores."""
    return datetime.datetime.now(datetime.timezone.utc).strftime(TIME_FORMAT)


def parse_rfc3339(text: str) -> float:
    """Return the Unix time of a Kubernetes timestamp like ``2026-12-04T16:42:41Z``."""
    parsed = datetime.datetime.strptime(text, TIME_FORMAT)
    return parsed.replace(tzinfo=datetime.timezone.utc).timestamp()


def condition(
    kind: str, status: str, reason: str, message: str, timestamp: str, **extra
) -> dict:
    """Return a status condition. ``extra`` adds fields such as observedGeneration."""
    found = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": timestamp,
    }
    found.update(extra)
    return found


@dataclasses.dataclass
class BootstrapRequest:
    """The images, package image, overrides and pull secrets of a bootstrap Job."""

    container_images: List[str]
    package_image: str
    prefix_overrides: str
    pull_secret_names: List[str]


def _env_value(container: Mapping, name: str) -> Optional[str]:
    for entry in container.get("env") or []:
        if entry.get("name") == name:
            if "valueFrom" in entry:
                raise BootstrapError(
                    "env %s of container %s uses valueFrom, but the test controller "
                    "reads only literal values" % (name, container.get("name"))
                )
            return entry.get("value") or ""
    return None


def parse_bootstrap_job(job: Mapping) -> BootstrapRequest:
    """Read images, package image, overrides and pull secrets from a bootstrap Job.

    Raises BootstrapError when no container has a ``-self-bootstrap=``
    argument, when the overrides come from ``valueFrom``, or when
    ``PKO_REGISTRY_HOST_OVERRIDES`` is set, which this controller does not
    implement.
    """
    pod_spec = job["spec"]["template"]["spec"]
    containers = list(pod_spec.get("initContainers") or [])
    containers += list(pod_spec["containers"])

    package_image, prefix_overrides = None, ""
    for container in pod_spec["containers"]:
        arguments = list(container.get("command") or []) + list(
            container.get("args") or []
        )
        for argument in arguments:
            for flag in SELF_BOOTSTRAP_FLAGS:
                if argument.startswith(flag):
                    package_image = argument[len(flag) :]
        if package_image is None:
            continue

        prefix_overrides = _env_value(container, PREFIX_OVERRIDES_ENV) or ""
        host_overrides = _env_value(container, REGISTRY_HOST_OVERRIDES_ENV)
        if host_overrides:
            raise BootstrapError(
                "%s=%r is set, but the test controller does not implement registry "
                "host overrides. Use %s instead."
                % (REGISTRY_HOST_OVERRIDES_ENV, host_overrides, PREFIX_OVERRIDES_ENV)
            )
        break

    if not package_image:
        raise BootstrapError(
            "no container has a -self-bootstrap=<package image> argument, so this is "
            "not a Package Operator bootstrap Job"
        )
    return BootstrapRequest(
        container_images=[container["image"] for container in containers],
        package_image=package_image,
        prefix_overrides=prefix_overrides,
        pull_secret_names=[
            entry["name"]
            for entry in pod_spec.get("imagePullSecrets") or []
            if entry.get("name")
        ],
    )


def job_finish_state(job: Mapping) -> Optional[Tuple[str, str]]:
    """Return ``(condition type, lastTransitionTime)`` of a finished Job, or None."""
    for entry in (job.get("status") or {}).get("conditions") or []:
        if (
            entry.get("type") in ("Complete", "Failed")
            and entry.get("status") == "True"
        ):
            return entry["type"], entry.get("lastTransitionTime") or now_rfc3339()
    return None


def job_running_status(started: str) -> dict:
    """Return the status of a Job whose one pod is pulling images."""
    return {"startTime": started, "active": 1, "ready": 0}


def job_complete_status(started: str, timestamp: str) -> dict:
    """Return the status of a Job whose one pod succeeded."""
    return {
        "startTime": started,
        "completionTime": timestamp,
        "active": 0,
        "ready": 0,
        "succeeded": 1,
        "conditions": [
            condition(
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                COMPLETIONS_REACHED,
                timestamp,
                lastProbeTime=timestamp,
            ),
            condition(
                "Complete",
                "True",
                "CompletionsReached",
                COMPLETIONS_REACHED,
                timestamp,
                lastProbeTime=timestamp,
            ),
        ],
    }


def job_failed_status(started: str, reason: str, message: str, timestamp: str) -> dict:
    """Return the status of a Job that failed for ``reason``."""
    return {
        "startTime": started,
        "active": 0,
        "ready": 0,
        "failed": 1,
        "conditions": [
            condition(
                "FailureTarget",
                "True",
                reason,
                message,
                timestamp,
                lastProbeTime=timestamp,
            ),
            condition(
                "Failed", "True", reason, message, timestamp, lastProbeTime=timestamp
            ),
        ],
    }


def deployment_status(
    deployment: Mapping, problem: Optional[str], timestamp: str
) -> dict:
    """Return the status the Deployment controller writes once pods run or cannot start.

    ``problem`` is why the pods cannot start, such as an image pull failure,
    or None when all replicas are available.
    """
    name = deployment["metadata"]["name"]
    replicas = deployment["spec"].get("replicas", 1)
    times = {"lastUpdateTime": timestamp}
    status = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
    }
    if problem is None:
        status["readyReplicas"] = replicas
        status["availableReplicas"] = replicas
        status["conditions"] = [
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                timestamp,
                **times,
            ),
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                'ReplicaSet "%s" has successfully progressed.' % name,
                timestamp,
                **times,
            ),
        ]
        return status

    status["unavailableReplicas"] = replicas
    status["conditions"] = [
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability: %s" % problem,
            timestamp,
            **times,
        ),
        condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            'ReplicaSet "%s" is progressing.' % name,
            timestamp,
            **times,
        ),
    ]
    return status


def image_hash(image: str) -> str:
    """Return the short hash that ``status.unpackedHash`` records for an image."""
    return hashlib.sha256(image.encode("utf-8")).hexdigest()[:16]


def cluster_package_status(
    cluster_package: Mapping, unpacked: str, unavailable: List[str], timestamp: str
) -> dict:
    """Return ClusterPackage status after an unpack of ``unpacked``.

    ``unavailable`` lists why Deployments of the package are unavailable.
    The revision counts the distinct images the ClusterPackage has had.
    """
    generation = cluster_package["metadata"]["generation"]
    image = cluster_package["spec"]["image"]
    previous = cluster_package.get("status") or {}
    revision = previous.get("revision") or 0
    if previous.get("unpackedHash") != image_hash(image) or not revision:
        revision += 1

    observed = {"observedGeneration": generation}
    if unavailable:
        available = condition(
            "Available",
            "False",
            "Unavailable",
            "; ".join(unavailable),
            timestamp,
            **observed,
        )
        progressing = condition(
            "Progressing",
            "True",
            "Progressing",
            "Waiting for the package's Deployments to become available.",
            timestamp,
            **observed,
        )
    else:
        available = condition(
            "Available",
            "True",
            "Available",
            "Latest Revision is Available.",
            timestamp,
            **observed,
        )
        progressing = condition(
            "Progressing",
            "False",
            "Idle",
            "Latest Revision is rolled out.",
            timestamp,
            **observed,
        )
    unpacked_condition = condition(
        "Unpacked",
        "True",
        "UnpackSuccess",
        "Unpack job succeeded for %s." % unpacked,
        timestamp,
        **observed,
    )
    return {
        "conditions": [available, progressing, unpacked_condition],
        "revision": revision,
        "unpackedHash": image_hash(image),
    }
