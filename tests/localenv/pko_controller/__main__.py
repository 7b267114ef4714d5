# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Command line of the PKO bootstrap test controller."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
from typing import Optional, Sequence

from kubernetes import config as kube_config
from kubernetes import dynamic

from .controller import (
    DEFAULT_JOB_NAME,
    DEFAULT_NAMESPACE,
    DEFAULT_PACKAGE_NAME,
    LOG,
    BootstrapController,
    ControllerConfig,
)
from .pull import DEFAULT_PLATFORM, RegistryClient, parse_docker_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localenv.pko_controller",
        description="Play Package Operator's self-bootstrap and the kubelet on a "
        "test control plane.",
    )
    parser.add_argument(
        "--kubeconfig", required=True, help="kubeconfig of the cluster to watch"
    )
    parser.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help="namespace of the bootstrap Job (default: %(default)s)",
    )
    parser.add_argument(
        "--job-name",
        default=DEFAULT_JOB_NAME,
        help="name of the bootstrap Job (default: %(default)s)",
    )
    parser.add_argument(
        "--package-name",
        default=DEFAULT_PACKAGE_NAME,
        help="name of the ClusterPackage to create (default: %(default)s)",
    )

    parser.add_argument(
        "--keep-finished-jobs",
        action="store_true",
        help="never delete finished Jobs, whatever their ttlSecondsAfterFinished",
    )

    parser.add_argument(
        "--registry-ca-file",
        action="append",
        default=[],
        help="PEM file of a CA to trust for HTTPS registries; repeat for several",
    )
    parser.add_argument(
        "--registry-auth-file",
        help="docker config.json with registry credentials, used like the "
        "kubelet's node credentials",
    )
    parser.add_argument(
        "--platform",
        default=DEFAULT_PLATFORM,
        help="os/architecture of the simulated node (default: %(default)s)",
    )

    parser.add_argument(
        "--ready-file", help="file to create once the first list of Jobs succeeded"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="Python logging level (default: %(default)s)",
    )
    return parser


def _ca_bundle(paths: Sequence[str], directory: str) -> Optional[str]:
    if not paths:
        return None
    bundle = os.path.join(directory, "registry-ca.pem")
    with open(bundle, "wb") as output:
        for path in paths:
            with open(path, "rb") as handle:
                output.write(handle.read().rstrip(b"\n") + b"\n")
    return bundle


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )

    work_dir = tempfile.mkdtemp(prefix="pko-controller-")
    credentials = {}
    if args.registry_auth_file:
        with open(args.registry_auth_file, encoding="utf-8") as handle:
            credentials = parse_docker_config(json.load(handle))
    registry = RegistryClient(
        ca_file=_ca_bundle(args.registry_ca_file, work_dir),
        credentials=credentials,
        platform=args.platform,
    )
    api_client = kube_config.new_client_from_config(config_file=args.kubeconfig)
    client = dynamic.DynamicClient(
        api_client, cache_file=os.path.join(work_dir, "discovery.json")
    )
    controller = BootstrapController(
        client,
        registry,
        ControllerConfig(
            namespace=args.namespace,
            job_name=args.job_name,
            package_name=args.package_name,
            delete_finished_jobs=not args.keep_finished_jobs,
            ready_file=args.ready_file,
        ),
    )

    def request_stop(signal_number, _frame):
        LOG.info("received signal %d, stopping", signal_number)
        controller.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    controller.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
