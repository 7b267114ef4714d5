# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the image_mirror module and its task runner, without skopeo."""

import functools
import hashlib
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pko.airgap.plugins.module_utils import mirror_task
from ansible_collections.pko.airgap.plugins.module_utils.registry_client import (
    UNSUPPORTED,
    RegistryClientError,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    DESTINATION,
    SOURCE,
    RegistryOptions,
    Skopeo,
)
from ansible_collections.pko.airgap.plugins.modules import image_mirror

RAW = b'{"schemaVersion":2,"config":{"digest":"sha256:%s","size":5},"layers":[]}' % (
    b"c" * 64
)
DIGEST = "sha256:" + hashlib.sha256(RAW).hexdigest()
SECRET = "Pw-Never-Shown-42"


class FakeSkopeo:
    """Source has quay.io/pko/a:v1; the destination starts empty."""

    instances = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.destination = {}
        FakeSkopeo.instances.append(self)

    def inspect_raw(self, reference, side="source"):
        return RAW if reference == "quay.io/pko/a:v1" else None

    def inspect_digest(self, reference, side="source"):
        return self.destination.get(reference)

    def copy(self, source, destination):
        self.destination[destination] = DIGEST


class OfflineClient:
    """A registry API client that never connects, so every check falls back to skopeo.

    The references in these tests name real hosts (quay.io), which a unit
    test must not contact.
    """

    instances = []

    def __init__(self, options, **kwargs):
        self.options = options
        self.kwargs = kwargs
        self.requests = []
        OfflineClient.instances.append(self)

    def _reject(self, reference):
        self.requests.append(reference)
        raise RegistryClientError("offline unit test", UNSUPPORTED)

    def manifest_digest(self, reference):
        self._reject(reference)

    def get_manifest(self, reference):
        self._reject(reference)

    def close(self):
        pass


@pytest.fixture(autouse=True)
def offline_client(monkeypatch):
    OfflineClient.instances.clear()
    monkeypatch.setattr(mirror_task, "RegistryClient", OfflineClient)
    return OfflineClient


def params(**overrides):
    base = {
        "images": ["quay.io/pko/a:v1"],
        "overrides": "quay.io/pko/=mirror.test/pko/",
        "parallel": 4,
        "retries": 3,
        "retry_delay": 2.0,
        "command_timeout": 600,
        "src_tls_verify": True,
        "dest_tls_verify": True,
    }
    base.update(overrides)
    return base


def test_task_copies_and_reports(tmp_path):
    report = tmp_path / "report.json"
    result, failure = mirror_task.run_mirror_task(
        params(report=str(report)), False, skopeo_factory=FakeSkopeo
    )
    assert failure is None
    assert result["changed"] is True
    assert result["counts"]["copied"] == 1
    assert json.loads(report.read_text())["images"][0]["action"] == "copied"


def test_task_returns_env_value():
    result, _failure = mirror_task.run_mirror_task(
        params(), False, skopeo_factory=FakeSkopeo
    )
    assert result["env_value"] == "quay.io/pko/=mirror.test/pko/"


def test_task_check_mode_writes_report(tmp_path):
    report = tmp_path / "report.json"
    result, _failure = mirror_task.run_mirror_task(
        params(report=str(report)), True, skopeo_factory=FakeSkopeo
    )
    assert result["images"][0]["action"] == "would_copy"
    assert json.loads(report.read_text())["check_mode"] is True


def test_task_progress_file_lines(tmp_path):
    progress = tmp_path / "progress.log"
    logged = []
    mirror_task.run_mirror_task(
        params(progress_file=str(progress)),
        False,
        log=logged.append,
        skopeo_factory=FakeSkopeo,
    )
    lines = progress.read_text().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("mirror started: 1 listed images")
    assert "[1/1] copied" in lines[1]
    assert lines[2].split(" ", 1)[1].startswith("total: 1 images, 1 copied")
    assert logged[1].startswith("[1/1] copied")


def test_task_logs_manifest_check_counts():
    logged = []
    mirror_task.run_mirror_task(
        params(), False, log=logged.append, skopeo_factory=FakeSkopeo
    )
    assert logged[2] == (
        "manifest checks: 0 over the registry API, 3 with skopeo because of: "
        "unsupported at mirror.test (2); unsupported at quay.io (1)"
    )


def test_task_returns_manifest_check_counts():
    result, _failure = mirror_task.run_mirror_task(
        params(), False, skopeo_factory=FakeSkopeo
    )
    assert result["manifest_checks"] == {
        "registry_api": 0,
        "skopeo": 3,
        "skopeo_reasons": {
            "unsupported at mirror.test": 2,
            "unsupported at quay.io": 1,
        },
    }


def test_task_builds_client_per_side(tmp_path):
    authfile = tmp_path / "auth.json"
    authfile.write_text("{}")
    mirror_task.run_mirror_task(
        params(
            src_tls_verify=False,
            dest_cert_dir="/certs",
            dest_username="bob",
            dest_password=SECRET,
            authfile=str(authfile),
            command_timeout=600,
        ),
        False,
        skopeo_factory=FakeSkopeo,
    )
    source, destination = OfflineClient.instances
    assert source.options == RegistryOptions(tls_verify=False)
    assert destination.options == RegistryOptions(
        cert_dir="/certs", username="bob", password=SECRET
    )
    assert source.kwargs == {"authfile": str(authfile), "timeout": 30.0}


def test_task_client_timeout_follows_short_command_timeout():
    mirror_task.run_mirror_task(
        params(command_timeout=5), False, skopeo_factory=FakeSkopeo
    )
    assert OfflineClient.instances[0].kwargs["timeout"] == 5.0


def test_task_checks_go_to_client_first():
    mirror_task.run_mirror_task(params(), False, skopeo_factory=FakeSkopeo)
    source, destination = OfflineClient.instances
    assert source.requests[0] == "quay.io/pko/a:v1"
    assert destination.requests[0] == "mirror.test/pko/a:v1"


def test_task_registries_conf_keeps_source_on_skopeo(tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text(
        '[[registry]]\nprefix = "quay.io/pko"\nlocation = "127.0.0.1:5999/pko"\n'
    )
    mirror, items = mirror_task.prepare(
        params(registries_conf=str(conf)), False, skopeo_factory=FakeSkopeo
    )
    mirror.run(items)
    source, destination = OfflineClient.instances
    assert source.requests == []
    assert destination.requests != []


def test_task_missing_registries_conf_uses_skopeo(tmp_path):
    mirror, items = mirror_task.prepare(
        params(registries_conf=str(tmp_path / "missing.conf")),
        False,
        skopeo_factory=FakeSkopeo,
    )
    mirror.run(items)
    assert [client.requests for client in OfflineClient.instances] == [[], []]
    assert mirror.inspector.summary().endswith(
        "because of: %s does not exist (3)" % (tmp_path / "missing.conf")
    )


def test_task_missing_registries_conf_variable_uses_skopeo(tmp_path, monkeypatch):
    missing = str(tmp_path / "missing.conf")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", missing)
    mirror, items = mirror_task.prepare(params(), False, skopeo_factory=FakeSkopeo)
    mirror.run(items)
    assert [client.requests for client in OfflineClient.instances] == [[], []]


def test_task_inspector_sides():
    mirror, _items = mirror_task.prepare(params(), False, skopeo_factory=FakeSkopeo)
    assert sorted(mirror.inspector.clients) == sorted([SOURCE, DESTINATION])


def test_task_passes_registry_options(tmp_path):
    authfile = tmp_path / "auth.json"
    authfile.write_text("{}")
    FakeSkopeo.instances.clear()
    mirror_task.run_mirror_task(
        params(
            src_tls_verify=False,
            dest_cert_dir="/certs",
            dest_username="bob",
            dest_password=SECRET,
            registries_conf="/reg.conf",
            authfile=str(authfile),
            executable="/opt/skopeo",
            command_timeout=30,
        ),
        False,
        skopeo_factory=FakeSkopeo,
    )
    kwargs = FakeSkopeo.instances[-1].kwargs
    assert kwargs["source"] == RegistryOptions(tls_verify=False)
    assert kwargs["destination"] == RegistryOptions(
        cert_dir="/certs", username="bob", password=SECRET
    )
    assert kwargs["registries_conf"] == "/reg.conf"
    assert kwargs["authfile"] == str(authfile)
    assert kwargs["executable"] == "/opt/skopeo"
    assert kwargs["timeout"] == 30.0


INPUT_ERRORS = [
    (
        {"overrides": "quay.io/pko"},
        "prefix override entry 1 'quay.io/pko' has no '='. PKO would silently drop it. "
        "Write it as from=to, for example 'quay.io/package-operator/=mirror.example.com/pko/'.",
    ),
    (
        {"images": ["quay.io/pko/a:v1", "docker.io/x/y:1"]},
        "images[1] 'docker.io/x/y:1' matches no override rule (quay.io/pko/=mirror.test/pko/). "
        "Add an override whose 'from' is a prefix of it, or write the entry as {src: ..., dest: ...}.",
    ),
    (
        {"recursive": True},
        "recursive needs package_closure. Set package_closure: true, or drop recursive.",
    ),
    ({"parallel": 0}, "parallel must be a whole number of at least 1, got 0"),
    (
        {"src_username": "alice"},
        "registry credentials need both a username and a password, but the password is "
        "missing. Set both, or neither to use the auth file.",
    ),
]


@pytest.mark.parametrize(
    "changes, message",
    INPUT_ERRORS,
    ids=[
        "malformed-override",
        "unmatched-image",
        "recursive-alone",
        "parallel-zero",
        "half-credentials",
    ],
)
def test_task_input_errors(changes, message):
    result, failure = mirror_task.run_mirror_task(
        params(**changes), False, skopeo_factory=FakeSkopeo
    )
    assert failure == message
    assert result == {"changed": False, "images": []}


def test_task_missing_skopeo_message(tmp_path):
    missing = str(tmp_path / "skopeo")
    _result, failure = mirror_task.run_mirror_task(params(executable=missing), False)
    assert failure == (
        "skopeo executable %r does not exist or is not executable. Install skopeo, or "
        "set executable to the path of the skopeo binary." % missing
    )


def test_task_input_error_writes_no_files(tmp_path):
    report, progress = tmp_path / "r.json", tmp_path / "p.log"
    mirror_task.run_mirror_task(
        params(overrides="bad", report=str(report), progress_file=str(progress)),
        False,
        skopeo_factory=FakeSkopeo,
    )
    assert list(tmp_path.iterdir()) == []


def test_task_progress_file_directory_missing(tmp_path):
    path = tmp_path / "no" / "p.log"
    _result, failure = mirror_task.run_mirror_task(
        params(progress_file=str(path)), False, skopeo_factory=FakeSkopeo
    )
    assert failure == (
        "failed to open progress_file %s: No such file or directory. Create its "
        "directory or choose another path." % path
    )


def run_module(args, capsys, check_mode=False):
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            image_mirror.main()
    return json.loads(capsys.readouterr().out)


def test_module_requires_password_with_username(capsys):
    output = run_module(
        {"images": ["quay.io/pko/a:v1"], "src_username": "alice"}, capsys
    )
    assert output["failed"] is True
    assert (
        output["msg"] == "parameters are required together: src_username, src_password"
    )


def test_module_fails_with_summary_and_images(capsys, monkeypatch):
    monkeypatch.setattr(mirror_task, "Skopeo", FakeSkopeo)
    output = run_module(
        {
            "images": ["quay.io/pko/missing:v1"],
            "overrides": "quay.io/pko/=mirror.test/pko/",
        },
        capsys,
    )
    assert output["failed"] is True
    assert output["msg"].startswith("image mirror failed for 1 of 1 images")
    assert output["images"][0]["action"] == "failed"


def test_module_success_not_marked_skipped(capsys, monkeypatch):
    monkeypatch.setattr(mirror_task, "Skopeo", FakeSkopeo)
    output = run_module(
        {"images": ["quay.io/pko/a:v1"], "overrides": "quay.io/pko/=mirror.test/pko/"},
        capsys,
    )
    assert output["changed"] is True
    assert "skipped" not in output
    assert "failed" not in output


def test_module_check_mode(capsys, monkeypatch):
    monkeypatch.setattr(mirror_task, "Skopeo", FakeSkopeo)
    output = run_module(
        {"images": ["quay.io/pko/a:v1"], "overrides": "quay.io/pko/=mirror.test/pko/"},
        capsys,
        check_mode=True,
    )
    assert output["counts"]["would_copy"] == 1
    assert output["check_mode"] is True


def test_module_hides_password(capsys, monkeypatch):
    monkeypatch.setattr(mirror_task, "Skopeo", FakeSkopeo)
    output = run_module(
        {
            "images": ["quay.io/pko/a:v1"],
            "overrides": "quay.io/pko/=mirror.test/pko/",
            "dest_username": "bob",
            "dest_password": SECRET,
        },
        capsys,
    )
    assert SECRET not in json.dumps(output)


def test_default_factory_is_skopeo(monkeypatch):
    monkeypatch.setattr(mirror_task, "Skopeo", FakeSkopeo)
    mirror, _items = mirror_task.prepare(params(), False)
    assert isinstance(mirror.skopeo, FakeSkopeo)


def test_task_missing_authfile_fails(tmp_path):
    missing = str(tmp_path / "auth.json")

    # The check belongs to the skopeo runner, so the real one runs here.
    with pytest.raises(mirror_task.MirrorTaskError) as caught:
        mirror_task.prepare(
            params(authfile=missing),
            False,
            skopeo_factory=functools.partial(Skopeo, which=lambda name: "/bin/skopeo"),
        )

    assert str(caught.value) == (
        "authfile %r is not a file. Give the path of a containers-auth.json file, "
        "such as the one that 'skopeo login' writes, or leave authfile unset to "
        "use skopeo's default." % missing
    )
