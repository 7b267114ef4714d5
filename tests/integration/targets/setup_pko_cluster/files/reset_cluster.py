#!/usr/bin/env python
# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Remove what a bootstrap test left on a cluster, so that the next test starts clean.

    reset_cluster.py --kubeconfig FILE [--namespace NAME]...
        [--cluster-role-binding NAME]... [--crd NAME]...

Deletes every ClusterPackage, then empties and removes each namespace, then
the named ClusterRoleBindings and CustomResourceDefinitions, and prints
``{"changed": ..., "deleted": [...]}``. Use it only on a disposable cluster.

The local test control plane runs no controller-manager. A deleted namespace
would stay Terminating there, and a Job deleted with the default propagation
would keep the orphan finalizer. So this script deletes the namespace's
objects itself with background propagation, clears finalizers that no
controller will remove, and finalizes the namespace through its ``finalize``
subresource, as the namespace controller would.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from typing import List

from kubernetes import config as kube_config
from kubernetes import dynamic
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError
from kubernetes.dynamic.resource import ResourceList

CLUSTER_PACKAGE_API_VERSION = "package-operator.run/v1alpha1"
BACKGROUND_DELETE = {
    "apiVersion": "v1",
    "kind": "DeleteOptions",
    "propagationPolicy": "Background",
}
GONE_TIMEOUT_SECONDS = 60.0


def wait_gone(resource, name: str, namespace: str = None) -> None:
    deadline = time.monotonic() + GONE_TIMEOUT_SECONDS
    while True:
        try:
            resource.get(name=name, namespace=namespace)
        except NotFoundError:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                "%s %s still exists %.0f s after it was deleted"
                % (resource.kind, name, GONE_TIMEOUT_SECONDS)
            )
        time.sleep(0.2)


def clear_finalizers(client, resource, item, namespace: str = None) -> None:
    if item.metadata.finalizers:
        client.patch(
            resource,
            body={"metadata": {"finalizers": None}},
            name=item.metadata.name,
            namespace=namespace,
            content_type="application/merge-patch+json",
        )


def delete_cluster_packages(client, deleted: List[str]) -> None:
    try:
        resource = client.resources.get(
            api_version=CLUSTER_PACKAGE_API_VERSION, kind="ClusterPackage"
        )
    except ResourceNotFoundError:
        return

    for item in resource.get().items:
        name = item.metadata.name
        resource.delete(name=name, body=BACKGROUND_DELETE)
        clear_finalizers(client, resource, item)
        wait_gone(resource, name)
        deleted.append("ClusterPackage/%s" % name)


def namespaced_resources(client) -> list:
    found = []
    for resource in client.resources.search():
        # Discovery also returns a ResourceList per group version, which is no type.
        if isinstance(resource, ResourceList):
            continue
        verbs = set(getattr(resource, "verbs", None) or [])
        if (
            resource.namespaced
            and {"deletecollection", "list", "patch"} <= verbs
            and "/" not in resource.name
            and resource.preferred
        ):
            found.append(resource)
    return found


def purge_namespace(client, name: str, deleted: List[str]) -> None:
    namespaces = client.resources.get(api_version="v1", kind="Namespace")
    try:
        current = namespaces.get(name=name).to_dict()
    except NotFoundError:
        return

    for resource in namespaced_resources(client):
        items = resource.get(namespace=name).items
        if not items:
            continue
        client.request("delete", resource.path(namespace=name), body=BACKGROUND_DELETE)
        for item in resource.get(namespace=name).items:
            clear_finalizers(client, resource, item, namespace=name)
        deleted.extend(
            "%s/%s/%s" % (resource.kind, name, item.metadata.name) for item in items
        )

    if current["metadata"].get("deletionTimestamp") is None:
        namespaces.delete(name=name)
    try:
        current = namespaces.get(name=name).to_dict()
    except NotFoundError:
        deleted.append("Namespace/%s" % name)
        return
    current["spec"]["finalizers"] = []
    client.request("put", "/api/v1/namespaces/%s/finalize" % name, body=current)
    wait_gone(namespaces, name)
    deleted.append("Namespace/%s" % name)


def delete_named(client, api_version: str, kind: str, names, deleted) -> None:
    resource = client.resources.get(api_version=api_version, kind=kind)
    for name in names:
        try:
            resource.delete(name=name, body=BACKGROUND_DELETE)
        except NotFoundError:
            continue
        wait_gone(resource, name)
        deleted.append("%s/%s" % (kind, name))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster")
    parser.add_argument(
        "--namespace", action="append", default=[], help="namespace to remove"
    )
    parser.add_argument(
        "--cluster-role-binding",
        action="append",
        default=[],
        help="ClusterRoleBinding to delete",
    )
    parser.add_argument(
        "--crd", action="append", default=[], help="CustomResourceDefinition to delete"
    )
    args = parser.parse_args(argv)

    # A private discovery cache: the CRDs that tests create and delete would
    # make a shared cache stale.
    with tempfile.TemporaryDirectory(prefix="reset-cluster-") as cache_dir:
        client = dynamic.DynamicClient(
            kube_config.new_client_from_config(config_file=args.kubeconfig),
            cache_file=cache_dir + "/discovery.json",
        )
        deleted: List[str] = []
        delete_cluster_packages(client, deleted)
        for namespace in args.namespace:
            purge_namespace(client, namespace, deleted)
        delete_named(
            client,
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            args.cluster_role_binding,
            deleted,
        )
        delete_named(
            client,
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            args.crd,
            deleted,
        )

    json.dump({"changed": bool(deleted), "deleted": deleted}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
