# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Start and stop the local default: registries, control planes, controllers.

    PYTHONPATH=tests python -m localenv up --state-dir DIR [--clusters N]
    PYTHONPATH=tests python -m localenv down --state-dir DIR
    PYTHONPATH=tests python -m localenv status --state-dir DIR

``up`` starts, on 127.0.0.1 only:

- a source registry that plays quay.io, seeded with generated multi-arch
  images named like Package Operator's releases, and a registries.conf that
  sends skopeo's pulls of ``quay.io/package-operator/...`` there;
- an empty mirror registry (plain HTTP), a registry with basic auth and a
  registry with TLS from a generated CA;
- N real control planes (etcd and kube-apiserver), each with a test
  controller that plays Package Operator's bootstrap and the kubelet.

Every process is started in its own session, so it outlives ``up``; ``down``
stops each one by the pid recorded in DIR/state.json. ``up`` also writes
DIR/bootstrap-vars.yml (variables for playbooks/bootstrap.yml), DIR/env.sh
(skopeo settings that keep its caches inside DIR) and, unless
``--no-integration-config``, tests/integration/integration_config.yml. A
hand-written integration_config.yml (one without the generated header line)
is left alone by ``up`` and ``down``.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import List, Optional

import yaml

from .controlplane import ControlPlane, build_binaries, stop_from_state
from .images import isolated_skopeo_env
from .registry import start_registry
from .seed import DEFAULT_VERSION, NAMESPACE, PUBLIC_PREFIX, seed_pko_release
from .seed import write_registries_conf

LOG = logging.getLogger("localenv")

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTEGRATION_CONFIG = os.path.join(TESTS_DIR, "integration", "integration_config.yml")
FIXTURE_MANIFEST = os.path.join(
    TESTS_DIR, "fixtures", "pko-v1.18.2", "self-bootstrap-job.yaml"
)
UPGRADE_VERSION = "v1.18.3"
CONTROLLER_READY_TIMEOUT = 60.0
AUTH_USERNAME = "pko-test"


def _state_path(state_dir: str) -> str:
    return os.path.join(state_dir, "state.json")


def _write_file(path: str, text: str, mode: int = 0o600) -> None:
    temporary = path + ".tmp"
    with open(
        os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w"
    ) as handle:
        handle.write(text)
    os.replace(temporary, path)


def _write_registry_auth(path: str, registries: dict) -> str:
    """Write a docker config.json with the auth registry's credentials.

    The test controller reads it like the kubelet's node credentials, so a
    mirror that requires a login can be tested end to end.
    """
    auths = {}
    for registry in registries.values():
        if registry.get("username"):
            token = "%s:%s" % (registry["username"], registry["password"])
            auths[registry["address"]] = {
                "auth": base64.b64encode(token.encode()).decode()
            }
    _write_file(path, json.dumps({"auths": auths}, indent=2) + "\n")
    return path


def _start_controller(
    name: str, kubeconfig: str, directory: str, registry_options: List[str]
) -> dict:
    os.makedirs(directory, exist_ok=True)
    ready_file = os.path.join(directory, "controller.ready")
    log_path = os.path.join(directory, "controller.log")
    if os.path.exists(ready_file):
        os.unlink(ready_file)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (TESTS_DIR, env.get("PYTHONPATH")) if part
    )
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localenv.pko_controller",
                "--kubeconfig",
                kubeconfig,
                "--ready-file",
                ready_file,
                *registry_options,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    deadline = time.monotonic() + CONTROLLER_READY_TIMEOUT
    while not os.path.exists(ready_file):
        if process.poll() is not None:
            raise RuntimeError(
                "test controller for %s exited with %s; see %s"
                % (name, process.returncode, log_path)
            )
        if time.monotonic() > deadline:
            process.terminate()
            raise RuntimeError(
                "test controller for %s was not ready after %.0f s; see %s"
                % (name, CONTROLLER_READY_TIMEOUT, log_path)
            )
        time.sleep(0.2)
    LOG.info("test controller for %s running (pid %d)", name, process.pid)
    return {"pid": process.pid, "log": log_path, "marker": "localenv.pko_controller"}


def _process_matches(pid: int, marker: str) -> bool:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return marker.encode() in handle.read()
    except OSError:
        return False


def _stop_pid(pid: int, marker: str, name: str, timeout: float = 10.0) -> None:
    """Stop ``pid`` only while its command line still contains ``marker``."""
    if not _process_matches(pid, marker):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _process_matches(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _process_matches(pid, marker):
        LOG.warning("%s (pid %d) still runs after SIGTERM; sending SIGKILL", name, pid)
        os.kill(pid, signal.SIGKILL)
    LOG.info("stopped %s (pid %d)", name, pid)


def up(args: argparse.Namespace) -> int:
    state_dir = os.path.abspath(args.state_dir)
    if os.path.exists(_state_path(state_dir)):
        LOG.error(
            "%s exists: the local default may still run. Run `python -m localenv "
            "down --state-dir %s` first.",
            _state_path(state_dir),
            args.state_dir,
        )
        return 1
    os.makedirs(state_dir, exist_ok=True)

    state: dict = {"registries": {}, "clusters": [], "controllers": []}
    skopeo_env = isolated_skopeo_env(os.path.join(state_dir, "skopeo"))
    os.environ.update(skopeo_env)

    # State is saved after each start, so `down` can stop whatever did start
    # when a later step fails.
    def save() -> None:
        _write_file(_state_path(state_dir), json.dumps(state, indent=2) + "\n")

    try:
        registry_dir = os.path.join(state_dir, "registries")
        for name, options in (
            ("source", {}),
            ("mirror", {}),
            ("auth", {"username": AUTH_USERNAME}),
            ("tls", {"tls": True}),
        ):
            registry = start_registry(registry_dir, name, **options)
            state["registries"][name] = {
                "address": registry.address,
                "pid": registry.pid,
                "username": registry.username,
                "password": registry.password,
                "cert_dir": registry.cert_dir,
                "log": registry.log_path,
            }
            save()

        source = state["registries"]["source"]["address"]
        seed_dir = os.path.join(state_dir, "seed-work")
        releases = {}
        for version in (DEFAULT_VERSION, UPGRADE_VERSION):
            release = seed_pko_release(
                source, seed_dir, version=version, tls_verify=False
            )
            releases[version] = release.public_images()
        state["releases"] = releases
        state["registries_conf"] = write_registries_conf(
            os.path.join(state_dir, "registries.conf"),
            {PUBLIC_PREFIX: "%s/%s" % (source, NAMESPACE)},
        )
        save()

        registry_options = [
            "--registry-auth-file",
            _write_registry_auth(
                os.path.join(state_dir, "registry-auth.json"), state["registries"]
            ),
        ]
        for registry in state["registries"].values():
            if registry["cert_dir"]:
                registry_options += [
                    "--registry-ca-file",
                    os.path.join(registry["cert_dir"], "ca.crt"),
                ]

        if args.clusters:
            bin_dir = build_binaries()
            for number in range(1, args.clusters + 1):
                name = "cluster%d" % number
                plane = ControlPlane(
                    os.path.join(state_dir, "clusters"),
                    name=name,
                    bin_dir=bin_dir,
                    tie_to_parent=False,
                ).start()
                state["clusters"].append(plane.state())
                save()
                controller = _start_controller(
                    name,
                    plane.kubeconfig,
                    os.path.join(plane.directory, "controller"),
                    registry_options,
                )
                controller["cluster"] = name
                state["controllers"].append(controller)
                save()
    except Exception:
        LOG.exception("starting the local default failed; stopping what did start")
        down(args)
        return 1

    _write_outputs(state_dir, state, skopeo_env, args.integration_config)
    save()
    _print_summary(state_dir, state)
    return 0


def _write_outputs(
    state_dir: str, state: dict, skopeo_env: dict, integration_config: bool
) -> None:
    registries = state["registries"]
    mirror = registries["mirror"]["address"]
    overrides = "quay.io/package-operator/=%s/pko/" % mirror
    kubeconfig = state["clusters"][0]["kubeconfig"] if state["clusters"] else None

    bootstrap_vars = {
        "pko_airgap_bootstrap_overrides": overrides,
        "pko_airgap_bootstrap_manifest_src": FIXTURE_MANIFEST,
        "pko_airgap_bootstrap_registries_conf": state["registries_conf"],
        # The local mirror speaks plain HTTP on 127.0.0.1; TLS stays verified
        # for everything else.
        "pko_airgap_bootstrap_dest_tls_verify": False,
        "pko_airgap_bootstrap_work_dir": os.path.join(state_dir, "work"),
        "pko_airgap_bootstrap_kubeconfig": kubeconfig,
    }
    state["bootstrap_vars"] = os.path.join(state_dir, "bootstrap-vars.yml")
    _write_file(
        state["bootstrap_vars"],
        "# Variables for playbooks/bootstrap.yml against the local default.\n"
        + yaml.safe_dump(bootstrap_vars, sort_keys=False),
    )

    state["env_file"] = os.path.join(state_dir, "env.sh")
    _write_file(
        state["env_file"],
        "# Keeps skopeo's caches and credential lookup inside the state directory.\n"
        + "".join(
            "export %s=%s\n" % (key, _shell_quote(skopeo_env[key]))
            for key in _SKOPEO_VARIABLES
            if key in skopeo_env
        ),
    )

    config = {
        "pko_airgap_test_source_registry": registries["source"]["address"],
        "pko_airgap_test_mirror_registry": mirror,
        "pko_airgap_test_registries_conf": state["registries_conf"],
        "pko_airgap_test_auth_registry": registries["auth"]["address"],
        "pko_airgap_test_auth_username": registries["auth"]["username"],
        "pko_airgap_test_auth_password": registries["auth"]["password"],
        "pko_airgap_test_tls_registry": registries["tls"]["address"],
        "pko_airgap_test_tls_cert_dir": registries["tls"]["cert_dir"],
        "pko_airgap_test_kubeconfig": kubeconfig,
        "pko_airgap_test_kubeconfigs": [c["kubeconfig"] for c in state["clusters"]],
        "pko_airgap_test_pko_version": DEFAULT_VERSION,
        "pko_airgap_test_pko_upgrade_version": UPGRADE_VERSION,
        "pko_airgap_test_manifest": FIXTURE_MANIFEST,
        "pko_airgap_test_skopeo_env": {
            key: skopeo_env[key]
            for key in sorted(_SKOPEO_VARIABLES)
            if key in skopeo_env
        },
    }
    if integration_config and not _written_by_localenv(INTEGRATION_CONFIG):
        print(
            "localenv: kept %s, which localenv did not write; the variables are "
            "in %s" % (INTEGRATION_CONFIG, os.path.join(state_dir, "state.json"))
        )
    elif integration_config:
        _write_file(
            INTEGRATION_CONFIG,
            INTEGRATION_CONFIG_HEADER + yaml.safe_dump(config, sort_keys=False),
        )
        state["integration_config"] = INTEGRATION_CONFIG
    state["test_config"] = config


INTEGRATION_CONFIG_HEADER = (
    "# Generated by `python -m localenv up`; describes servers on 127.0.0.1.\n"
)


def _written_by_localenv(path: str) -> bool:
    """Return True when ``path`` is absent or starts with localenv's header line.

    A file written by hand, for instance to point the tests at a real
    cluster, is neither overwritten nor removed.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline() == INTEGRATION_CONFIG_HEADER
    except FileNotFoundError:
        return True


_SKOPEO_VARIABLES = (
    "_CONTAINERS_ROOTLESS_UID",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
    "TMPDIR",
    "DOCKER_CONFIG",
)


def _shell_quote(value: str) -> str:
    return "'%s'" % value.replace("'", "'\"'\"'")


def _print_summary(state_dir: str, state: dict) -> None:
    registries = state["registries"]
    print("Local default running (state in %s):" % state_dir)
    for name in ("source", "mirror", "auth", "tls"):
        print("  registry %-7s %s" % (name, registries[name]["address"]))
    for cluster in state["clusters"]:
        print(
            "  cluster  %-7s %s (kubeconfig %s)"
            % (cluster["name"], cluster["server"], cluster["kubeconfig"])
        )
    print("  playbook variables: %s" % state["bootstrap_vars"])


def down(args: argparse.Namespace) -> int:
    state_dir = os.path.abspath(args.state_dir)
    path = _state_path(state_dir)
    if not os.path.exists(path):
        LOG.info("nothing to stop: %s does not exist", path)
        return 0
    with open(path, encoding="utf-8") as handle:
        state = json.load(handle)

    for controller in state.get("controllers", []):
        _stop_pid(
            controller["pid"],
            controller["marker"],
            "test controller for %s" % controller.get("cluster"),
        )
    for cluster in state.get("clusters", []):
        stop_from_state(cluster)
    for name, registry in state.get("registries", {}).items():
        if registry.get("pid"):
            _stop_pid(registry["pid"], "docker-registry", "registry %s" % name)

    written = state.get("integration_config")
    if written and os.path.exists(written) and _written_by_localenv(written):
        os.unlink(written)
    os.unlink(path)
    return 0


def status(args: argparse.Namespace) -> int:
    path = _state_path(os.path.abspath(args.state_dir))
    if not os.path.exists(path):
        print("not running: %s does not exist" % path)
        return 1
    with open(path, encoding="utf-8") as handle:
        state = json.load(handle)
    failed = 0
    for name, registry in state.get("registries", {}).items():
        alive = _process_matches(registry["pid"], "docker-registry")
        failed += not alive
        print(
            "registry %-7s %-21s %s"
            % (name, registry["address"], "running" if alive else "stopped")
        )
    for controller in state.get("controllers", []):
        alive = _process_matches(controller["pid"], controller["marker"])
        failed += not alive
        print(
            "controller %-7s %s"
            % (controller.get("cluster"), "running" if alive else "stopped")
        )
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localenv", description=__doc__.split("\n\n", maxsplit=1)[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler in (("up", up), ("down", down), ("status", status)):
        command = commands.add_parser(name)
        command.set_defaults(handler=handler)
        command.add_argument(
            "--state-dir", required=True, help="directory for state, logs and data"
        )
        if name == "up":
            command.add_argument(
                "--clusters",
                type=int,
                default=1,
                help="number of control planes to start (default: %(default)s; 0 for none)",
            )
            command.add_argument(
                "--no-integration-config",
                dest="integration_config",
                action="store_false",
                help="do not write tests/integration/integration_config.yml",
            )
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="localenv: %(message)s", stream=sys.stderr
    )
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
