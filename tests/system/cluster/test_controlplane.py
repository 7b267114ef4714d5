# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The local control plane: real API semantics, process lifecycle, kubernetes.core."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml
from kubernetes.dynamic.exceptions import DynamicApiError

from localenv.controlplane import ControlPlane, ControlPlaneError, stop_from_state
from localenv.pko_controller.status import job_complete_status, job_failed_status
from localenv.pytest_cluster import (
    TESTS_DIR,
    apply,
    external_kubeconfigs,
    purge_namespace,
    wait_until,
)

REPO_ROOT = os.path.dirname(TESTS_DIR)
FIXTURES = os.path.join(TESTS_DIR, "fixtures", "pko-v1.18.2")
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "k8s_roundtrip.yml")

local_only = pytest.mark.skipif(
    bool(external_kubeconfigs()),
    reason="starts its own control plane processes; PKO_AIRGAP_TEST_KUBECONFIG is set",
)


def process_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still accepts signal 0 until its parent reaps it.
    with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
        return handle.read().split(")")[-1].split()[0] != "Z"


def load_crd():
    with open(
        os.path.join(FIXTURES, "clusterpackages.crd.yaml"), encoding="utf-8"
    ) as handle:
        return yaml.safe_load(handle)


def crd_established(cluster, name):
    crd = cluster.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition").get(
        name=name
    )
    conditions = (crd.to_dict().get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def status_message(error):
    """Return the message of the Status object in an API error response."""
    return json.loads(error.body)["message"]


def job_document(namespace, command):
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "sample", "namespace": namespace},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "127.0.0.1:1/unused:v1",
                            "command": command,
                        }
                    ],
                }
            }
        },
    }


def test_version_is_pinned_release(cluster):
    version = cluster.client.version["kubernetes"]
    assert version["gitVersion"] == "v1.37.2"


def test_kubernetes_core_roundtrip(cluster, namespace, tmp_path):
    environment = dict(os.environ)
    environment.update(
        {
            "K8S_AUTH_KUBECONFIG": cluster.kubeconfig,
            # kubernetes.core writes discovery caches to the temp directory.
            "TMPDIR": str(tmp_path),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        }
    )
    result = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
            PLAYBOOK,
            "-e",
            "roundtrip_namespace=%s" % namespace,
        ],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    config_map = cluster.resource("v1", "ConfigMap").get(
        name="roundtrip", namespace=namespace
    )
    assert config_map.data.greeting == "changed"


def test_job_pod_template_is_immutable(cluster, namespace):
    apply(cluster, job_document(namespace, ["true"]))

    with pytest.raises(DynamicApiError) as raised:
        apply(cluster, job_document(namespace, ["false"]))

    assert raised.value.status == 422
    assert "field is immutable" in status_message(raised.value)


START = "2026-01-01T00:00:00Z"
END = "2026-01-01T00:00:05Z"


def without_first_condition(status):
    status["conditions"] = status["conditions"][1:]
    return status


def without_start_time(status):
    del status["startTime"]
    return status


def with_completion_time(status):
    status["completionTime"] = END
    return status


@pytest.mark.parametrize(
    "status, expected",
    [
        (
            without_first_condition(job_complete_status(START, END)),
            "cannot set Complete=True condition without the SuccessCriteriaMet=true",
        ),
        (
            without_first_condition(job_failed_status(START, "R", "m", END)),
            "cannot set Failed=True condition without the FailureTarget=true",
        ),
        (
            without_start_time(job_complete_status(START, END)),
            "startTime is required for finished job",
        ),
        (
            with_completion_time(job_failed_status(START, "R", "m", END)),
            "cannot set completionTime when there is no Complete=True condition",
        ),
    ],
    ids=[
        "complete-without-success-criteria",
        "failed-without-failure-target",
        "finished-without-start-time",
        "failed-with-completion-time",
    ],
)
def test_job_status_validation_rejects(cluster, namespace, status, expected):
    apply(cluster, job_document(namespace, ["true"]))
    jobs = cluster.resource("batch/v1", "Job")
    document = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "sample", "namespace": namespace},
        "status": status,
    }

    with pytest.raises(DynamicApiError) as raised:
        cluster.client.server_side_apply(
            jobs.status,
            body=document,
            name="sample",
            namespace=namespace,
            field_manager="pko-airgap-tests",
            force_conflicts=True,
        )

    assert raised.value.status == 422
    assert expected in status_message(raised.value)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({}, "spec.image: Required value"),
        ({"image": 42}, 'spec.image: Invalid value: "integer"'),
        ({"image": "x", "paused": "yes"}, 'spec.paused: Invalid value: "string"'),
    ],
    ids=["missing-image", "image-not-string", "paused-not-boolean"],
)
def test_cluster_package_schema_rejects(cluster, spec, expected):
    crd = load_crd()
    crds = cluster.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    # A real cluster with Package Operator already has its own copy.
    if crd["metadata"]["name"] not in [item.metadata.name for item in crds.get().items]:
        apply(cluster, crd)
    wait_until(
        lambda: crd_established(cluster, crd["metadata"]["name"]), 30, "CRD Established"
    )
    document = {
        "apiVersion": "package-operator.run/v1alpha1",
        "kind": "ClusterPackage",
        "metadata": {"name": "schema-check"},
        "spec": spec,
    }

    with pytest.raises(DynamicApiError) as raised:
        cluster.resource("package-operator.run/v1alpha1", "ClusterPackage").create(
            body=document
        )

    assert raised.value.status == 422
    assert expected in status_message(raised.value)


def test_purge_namespace_removes_contents(cluster):
    name = "t-purge-check"
    cluster.resource("v1", "Namespace").create(
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "left-behind", "namespace": name},
        },
    )

    purge_namespace(cluster, name)

    names = [
        item.metadata.name for item in cluster.resource("v1", "Namespace").get().items
    ]
    assert name not in names
    left = cluster.resource("v1", "ConfigMap").get(namespace=name).items
    assert left == []


@local_only
def test_three_control_planes_run_at_once(cluster_factory):
    clusters = cluster_factory(3, controller=False)

    servers = {c.control_plane.server for c in clusters}
    assert len(servers) == 3
    apply(
        clusters[0],
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "only-in-first"},
        },
    )
    names = [
        [item.metadata.name for item in c.resource("v1", "Namespace").get().items]
        for c in clusters
    ]
    assert "only-in-first" in names[0]
    assert "only-in-first" not in names[1]
    assert "only-in-first" not in names[2]


@local_only
def test_stop_ends_both_processes(tmp_path, controlplane_bin_dir):
    control_plane = ControlPlane(str(tmp_path), bin_dir=controlplane_bin_dir).start()
    pids = control_plane.pids

    control_plane.stop()

    assert sorted(pids) == ["etcd", "kube-apiserver"]
    assert not process_running(pids["etcd"])
    assert not process_running(pids["kube-apiserver"])
    assert not os.path.exists(os.path.join(control_plane.directory, "etcd-data"))


@local_only
def test_failed_start_leaves_no_process(tmp_path, controlplane_bin_dir):
    control_plane = ControlPlane(
        str(tmp_path),
        bin_dir=controlplane_bin_dir,
        extra_apiserver_args=["--no-such-flag"],
    )
    spawned = []
    original_spawn = control_plane._spawn

    def recording_spawn(name, args):
        process = original_spawn(name, args)
        spawned.append(process.pid)
        return process

    control_plane._spawn = recording_spawn

    with pytest.raises(ControlPlaneError) as raised:
        control_plane.start()

    assert "unknown flag: --no-such-flag" in str(raised.value)
    assert len(spawned) == 2
    assert [pid for pid in spawned if process_running(pid)] == []


STARTER = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, %(tests)r)
    from localenv.controlplane import ControlPlane
    control_plane = ControlPlane(%(workdir)r, bin_dir=%(bin_dir)r, tie_to_parent=%(tie)r)
    control_plane.start()
    print(json.dumps(control_plane.state()), flush=True)
    time.sleep(%(linger)r)
    """)


def start_in_child(tmp_path, bin_dir, tie, linger):
    code = STARTER % {
        "tests": TESTS_DIR,
        "workdir": str(tmp_path),
        "bin_dir": bin_dir,
        "tie": tie,
        "linger": linger,
    }
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    )
    state = json.loads(child.stdout.readline())
    return child, state


@local_only
def test_processes_die_with_killed_parent(tmp_path, controlplane_bin_dir):
    child, state = start_in_child(tmp_path, controlplane_bin_dir, True, 600)
    pids = [entry["pid"] for entry in state["processes"]]

    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()

    wait_until(
        lambda: not any(process_running(pid) for pid in pids), 30, "processes gone"
    )
    assert len(pids) == 2


@local_only
def test_stop_from_state_after_parent_exit(tmp_path, controlplane_bin_dir):
    child, state = start_in_child(tmp_path, controlplane_bin_dir, False, 0)
    child.wait()
    child.stdout.close()
    pids = [entry["pid"] for entry in state["processes"]]
    still_running = [pid for pid in pids if process_running(pid)]

    stop_from_state(state)

    assert len(still_running) == 2
    assert [pid for pid in pids if process_running(pid)] == []


@local_only
def test_kubeconfig_holds_admin_credentials(cluster):
    with open(cluster.kubeconfig, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    user = config["users"][0]["user"]

    review = cluster.client.request(
        "post",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )

    assert sorted(user) == ["client-certificate-data", "client-key-data"]
    assert "system:masters" in review.status.userInfo.groups
    assert os.stat(cluster.kubeconfig).st_mode & 0o077 == 0
