# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the skopeo runner, with a fake process runner."""

import hashlib
import subprocess

import pytest

from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    DESTINATION,
    EXECUTABLE,
    MASK,
    NOT_FOUND,
    OTHER,
    SOURCE,
    TLS,
    TRANSIENT,
    UNAUTHORIZED,
    RegistryOptions,
    RunOutput,
    Skopeo,
    SkopeoError,
    SkopeoExecutableError,
    classify_error,
    error_summary,
    manifest_digest,
)

SKOPEO = "/usr/bin/skopeo"


def fatal(message):
    escaped = message.replace('"', '\\"')
    return 'time="2026-12-04T16:24:01Z" level=fatal msg="%s"\n' % escaped


class FakeRunner:
    """Record argument lists and return queued outputs or raise queued errors."""

    def __init__(self, *outputs):
        self.outputs = list(outputs)
        self.calls = []

    def __call__(self, argv, timeout, env):
        self.calls.append({"argv": list(argv), "timeout": timeout, "env": env})
        output = self.outputs.pop(0)
        if isinstance(output, BaseException):
            raise output
        return output


def make(runner=None, **kwargs):
    return Skopeo(
        executable="skopeo",
        runner=runner or FakeRunner(),
        which=lambda name: SKOPEO,
        **kwargs
    )


# Messages printed by skopeo 1.9.3 against distribution registry 2.8.2 and a
# stand-in HTTP server that returns fixed status codes.
CLASSIFY_CASES = [
    (
        "reading manifest v1 in 127.0.0.1:43011/nope: manifest unknown: manifest unknown",
        NOT_FOUND,
    ),
    (
        "reading manifest v1 in r/x: name unknown: repository name not known to registry",
        NOT_FOUND,
    ),
    (
        "reading manifest v1 in 127.0.0.1:34181/nope: unauthorized: authentication required",
        UNAUTHORIZED,
    ),
    (
        "reading manifest v1 in r/x: denied: requested access to the resource is denied",
        UNAUTHORIZED,
    ),
    (
        "pinging container registry r: invalid status code from registry 403 (Forbidden)",
        UNAUTHORIZED,
    ),
    (
        'pinging container registry 127.0.0.1:1: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
        TRANSIENT,
    ),
    (
        "pinging container registry r: invalid status code from registry 503 (Service Unavailable)",
        TRANSIENT,
    ),
    (
        "reading manifest v1 in r/x: received unexpected HTTP status: 500 Internal Server Error",
        TRANSIENT,
    ),
    (
        "reading manifest v1 in r/x: received unexpected HTTP status: 502 Bad Gateway",
        TRANSIENT,
    ),
    ("reading manifest v1 in r/x: toomanyrequests: rate limit", TRANSIENT),
    (
        'writing blob: Patch "http://r/v2/x/blobs/uploads/1": read tcp: connection reset by peer',
        TRANSIENT,
    ),
    ('reading blob sha256:aa: Get "http://r/v2/x/blobs/sha256:aa": EOF', TRANSIENT),
    ('Get "https://r/v2/": net/http: TLS handshake timeout', TRANSIENT),
    ('Get "https://r/v2/": dial tcp: i/o timeout', TRANSIENT),
    (
        'Get "https://127.0.0.1:1/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority',
        TLS,
    ),
    (
        'Get "https://127.0.0.1:1/v2/": http: server gave HTTP response to HTTPS client',
        TLS,
    ),
    ("Docker references with both a tag and digest are currently not supported", OTHER),
    ("reading manifest v1 in r/x: unknown: boom", OTHER),
]


@pytest.mark.parametrize(
    "message, kind",
    CLASSIFY_CASES,
    ids=[
        "manifest-unknown",
        "name-unknown",
        "unauthorized",
        "denied",
        "ping-403",
        "connection-refused",
        "ping-503",
        "manifest-500",
        "manifest-502",
        "toomanyrequests",
        "connection-reset",
        "eof",
        "tls-handshake-timeout",
        "io-timeout",
        "unknown-ca",
        "http-to-https",
        "tag-and-digest",
        "unknown-code",
    ],
)
def test_classify_error_kinds(message, kind):
    assert classify_error(fatal(message)) == kind


@pytest.mark.parametrize(
    "message",
    [
        "reading manifest v1 in 127.0.0.1:5000/denied: manifest unknown: manifest unknown",
        "reading manifest v1 in 127.0.0.1:5000/x/unauthorized: manifest unknown: x",
        "reading manifest v500 in 127.0.0.1:5000/x: manifest unknown: manifest unknown",
        "reading manifest eof in 127.0.0.1:5000/eof: manifest unknown: manifest unknown",
    ],
    ids=["repo-denied", "repo-unauthorized", "tag-v500", "tag-eof"],
)
def test_classify_error_ignores_image_names(message):
    assert classify_error(fatal(message)) == NOT_FOUND


def test_error_summary_strips_log_prefix():
    stderr = fatal('Error parsing image name "docker://r/x:v1": manifest unknown')
    assert (
        error_summary(stderr)
        == 'Error parsing image name "docker://r/x:v1": manifest unknown'
    )


def test_error_summary_keeps_plain_text():
    assert error_summary("\nplain failure\n") == "plain failure"


def test_manifest_digest_hashes_bytes():
    raw = b'{"schemaVersion":2}'
    assert manifest_digest(raw) == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_manifest_digest_rejects_unknown_algorithm():
    with pytest.raises(ValueError, match="unsupported digest algorithm 'md5'"):
        manifest_digest(b"{}", "md5")


def test_executable_found_on_path():
    assert make().executable == SKOPEO


def test_executable_missing_on_path_names_fix():
    with pytest.raises(SkopeoExecutableError) as caught:
        Skopeo(executable="skopeo", which=lambda name: None)
    assert "skopeo executable 'skopeo' was not found on PATH" in str(caught.value)
    assert "Install skopeo" in str(caught.value)
    assert caught.value.kind == EXECUTABLE


def test_executable_missing_path_names_path(tmp_path):
    missing = str(tmp_path / "bin" / "skopeo")
    with pytest.raises(SkopeoExecutableError) as caught:
        Skopeo(executable=missing)
    assert str(caught.value) == (
        "skopeo executable %r does not exist or is not executable. Install "
        "skopeo, or set executable to the path of the skopeo binary." % missing
    )


def test_executable_path_not_executable(tmp_path):
    path = tmp_path / "skopeo"
    path.write_text("#!/bin/sh\n")
    with pytest.raises(SkopeoExecutableError, match="is not executable"):
        Skopeo(executable=str(path))


def test_executable_path_used_as_given(tmp_path):
    path = tmp_path / "skopeo"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    assert Skopeo(executable=str(path)).executable == str(path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"username": "alice"}, "the password is missing"),
        ({"password": "s3cret"}, "the username is missing"),
        ({"username": "a:b", "password": "s3cret"}, "contains ':'"),
    ],
    ids=["no-password", "no-username", "colon-in-username"],
)
def test_registry_options_reject_bad_credentials(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RegistryOptions(**kwargs)


def test_registry_options_repr_hides_password():
    assert "s3cret" not in repr(RegistryOptions(username="alice", password="s3cret"))


def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match="timeout must be positive"):
        make(timeout=0)


def test_inspect_args_default_verify_tls():
    assert make().inspect_raw_args("r.example/x:v1") == [
        SKOPEO,
        "inspect",
        "--raw",
        "docker://r.example/x:v1",
    ]


def test_inspect_args_destination_side(tmp_path):
    authfile = tmp_path / "auth.json"
    authfile.write_text("{}")
    skopeo = make(
        source=RegistryOptions(tls_verify=False),
        destination=RegistryOptions(cert_dir="/certs", username="bob", password="pw"),
        authfile=str(authfile),
        registries_conf="/reg.conf",
        tmpdir="/tmp/skopeo",
    )
    assert skopeo.inspect_raw_args("m/x:v1", DESTINATION) == [
        SKOPEO,
        "--registries-conf=/reg.conf",
        "--tmpdir=/tmp/skopeo",
        "inspect",
        "--raw",
        "--cert-dir=/certs",
        "--creds=bob:pw",
        "--authfile=%s" % authfile,
        "docker://m/x:v1",
    ]


def test_missing_authfile_is_rejected(tmp_path):
    missing = str(tmp_path / "auth.json")

    with pytest.raises(SkopeoError) as caught:
        make(authfile=missing)

    assert str(caught.value) == (
        "authfile %r is not a file. Give the path of a containers-auth.json file, "
        "such as the one that 'skopeo login' writes, or leave authfile unset to "
        "use skopeo's default." % missing
    )


def test_inspect_args_reject_unknown_side():
    with pytest.raises(ValueError, match="unknown registry side 'left'"):
        make().inspect_raw_args("r/x:v1", "left")


def test_copy_args_both_sides():
    skopeo = make(
        source=RegistryOptions(tls_verify=False, username="alice", password="pw1"),
        destination=RegistryOptions(cert_dir="/certs"),
    )
    assert skopeo.copy_args("docker://s/x:v1", "docker://d/x:v1") == [
        SKOPEO,
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds=alice:pw1",
        "--dest-cert-dir=/certs",
        "docker://s/x:v1",
        "docker://d/x:v1",
    ]


def test_copy_args_without_all():
    args = make().copy_args("docker://s/x", "docker://d/x", all_images=False)
    assert "--all" not in args


def test_copy_runs_with_docker_transport():
    runner = FakeRunner(RunOutput(0, b"", ""))
    make(runner).copy("s/x:v1", "d/x:v1")
    assert runner.calls[0]["argv"][-2:] == ["docker://s/x:v1", "docker://d/x:v1"]


def test_pull_oci_layout_args():
    runner = FakeRunner(RunOutput(0, b"", ""))
    make(runner, source=RegistryOptions(tls_verify=False)).pull_oci_layout(
        "s/pkg:v1", "/tmp/layout", architecture="arm64"
    )
    assert runner.calls[0]["argv"] == [
        SKOPEO,
        "--override-os=linux",
        "--override-arch=arm64",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "docker://s/pkg:v1",
        "oci:/tmp/layout:image",
    ]


def test_inspect_digest_hashes_raw_manifest():
    raw = b'{"schemaVersion":2,"manifests":[]}'
    skopeo = make(FakeRunner(RunOutput(0, raw, "")))
    assert (
        skopeo.inspect_digest("s/x:v1") == "sha256:" + hashlib.sha256(raw).hexdigest()
    )


def test_inspect_digest_uses_algorithm_of_reference():
    raw = b"{}"
    skopeo = make(FakeRunner(RunOutput(0, raw, "")))
    digest = skopeo.inspect_digest("s/x@sha512:" + "a" * 128)
    assert digest == "sha512:" + hashlib.sha512(raw).hexdigest()


def test_inspect_digest_none_when_manifest_unknown():
    stderr = fatal("reading manifest v1 in d/x: manifest unknown: manifest unknown")
    skopeo = make(FakeRunner(RunOutput(1, b"", stderr)))
    assert skopeo.inspect_digest("d/x:v1", DESTINATION) is None


def test_inspect_digest_raises_unauthorized():
    stderr = fatal("reading manifest v1 in d/x: unauthorized: authentication required")
    skopeo = make(FakeRunner(RunOutput(1, b"", stderr)))
    with pytest.raises(SkopeoError) as caught:
        skopeo.inspect_digest("d/x:v1")
    assert caught.value.kind == UNAUTHORIZED
    assert str(caught.value) == (
        "skopeo inspect failed (rc=1): reading manifest v1 in d/x: unauthorized: "
        "authentication required. Give credentials for this registry: authfile, "
        "or the username and password of that side (src_ or dest_)."
    )


def test_tls_error_names_the_fix():
    stderr = fatal(
        'pinging container registry d: Get "https://d/v2/": '
        "x509: certificate signed by unknown authority"
    )
    skopeo = make(FakeRunner(RunOutput(1, b"", stderr)))
    with pytest.raises(SkopeoError) as caught:
        skopeo.inspect_digest("d/x:v1")
    assert caught.value.kind == TLS
    assert str(caught.value).endswith(
        "x509: certificate signed by unknown authority. Put the registry's CA "
        "certificate into that side's cert_dir, or turn that side's tls_verify "
        "off for a registry you trust."
    )


def test_error_carries_rc_and_output():
    stderr = fatal("reading manifest v1 in d/x: unknown: boom")
    skopeo = make(FakeRunner(RunOutput(1, b"out", stderr)))
    with pytest.raises(SkopeoError) as caught:
        skopeo.copy("s/x:v1", "d/x:v1")
    error = caught.value
    assert error.rc == 1
    assert error.stdout == "out"
    assert error.stderr == stderr
    assert error.kind == OTHER
    assert (
        str(error)
        == "skopeo copy failed (rc=1): reading manifest v1 in d/x: unknown: boom"
    )


def test_error_masks_password_everywhere():
    secret = "Very-S3cret-Passw0rd"
    stderr = fatal("creds %s rejected: unauthorized: authentication required" % secret)
    skopeo = make(
        FakeRunner(RunOutput(1, secret.encode(), stderr)),
        source=RegistryOptions(username="alice", password=secret),
        destination=RegistryOptions(username="bob", password="other-pw"),
    )
    with pytest.raises(SkopeoError) as caught:
        skopeo.copy("s/x:v1", "d/x:v1")
    error = caught.value
    assert secret not in str(error)
    assert secret not in " ".join(error.cmd)
    assert "other-pw" not in " ".join(error.cmd)
    assert secret not in error.stdout
    assert secret not in error.stderr
    assert secret not in repr(error.as_dict())
    assert "--src-creds=alice:%s" % MASK in error.cmd


def test_runner_receives_real_password():
    runner = FakeRunner(RunOutput(0, b"", ""))
    make(runner, source=RegistryOptions(username="alice", password="pw")).copy(
        "s/x", "d/x"
    )
    assert "--src-creds=alice:pw" in runner.calls[0]["argv"]


def test_timeout_raises_transient():
    runner = FakeRunner(subprocess.TimeoutExpired(["skopeo"], 5))
    skopeo = make(runner, timeout=5)
    with pytest.raises(SkopeoError) as caught:
        skopeo.inspect_digest("s/x:v1")
    assert caught.value.kind == TRANSIENT
    assert str(caught.value) == (
        "skopeo timed out after 5 seconds on s/x:v1. Check that the registry is "
        "reachable, or raise the timeout."
    )


def test_runner_gets_timeout_and_env():
    runner = FakeRunner(RunOutput(0, b"{}", ""))
    make(runner, timeout=7, env={"HOME": "/h"}).inspect_raw("s/x:v1")
    assert runner.calls[0]["timeout"] == 7
    assert runner.calls[0]["env"] == {"HOME": "/h"}


def test_os_error_raises_executable_error():
    runner = FakeRunner(PermissionError(13, "Permission denied"))
    with pytest.raises(SkopeoExecutableError, match="Permission denied"):
        make(runner).version()


def test_version_parses_output():
    runner = FakeRunner(RunOutput(0, b"skopeo version 1.9.3\n", ""))
    assert make(runner).version() == "1.9.3"


def test_sides_are_named():
    assert make().options[SOURCE] == RegistryOptions()
