# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the registry API client, against a small registry on 127.0.0.1.

FakeRegistry serves the parts of the distribution API v2 that the client
uses: the ``/v2/`` ping, manifests by tag or digest, HTTP Basic or bearer
token auth with a token endpoint, optionally over TLS with a CA made by
openssl.
"""

import base64
import hashlib
import http.server
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.pko.airgap.plugins.module_utils.registry_client import (
    DOCKER_SCHEMA1_SIGNED,
    OCI_INDEX,
    UNSUPPORTED,
    Challenge,
    ManifestInspector,
    RegistryClient,
    RegistryClientError,
    manifest_target,
    parse_challenges,
    registry_api_host,
)
from ansible_collections.pko.airgap.plugins.module_utils.registry_config import (
    RegistriesConf,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    DESTINATION,
    NOT_FOUND,
    OTHER,
    SOURCE,
    TLS,
    TRANSIENT,
    UNAUTHORIZED,
    RegistryOptions,
    SkopeoError,
)

TESTS_DIR = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from localenv.registry import make_tls_files  # noqa: E402

USERNAME = "mirror-bot"
PASSWORD = "Registry-Pa55-Never-Shown"
INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + "a" * 64,
                "size": 400,
                "platform": {"os": "linux", "architecture": "amd64"},
            }
        ],
    }
).encode()
INDEX_DIGEST = "sha256:" + hashlib.sha256(INDEX).hexdigest()
INDEX_SHA512 = "sha512:" + hashlib.sha512(INDEX).hexdigest()


def no_environment(tmp_path):
    """Return an environment whose auth files and certs.d lie in an empty directory."""
    return {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}


class FakeRegistry:
    """A threaded HTTP(S) server on 127.0.0.1 that plays a registry.

    ``auth`` is None, "basic" or "bearer". ``manifests`` maps
    ``(repository, tag or digest)`` to ``(media type, body)``. Setting
    ``manifest_status`` makes every manifest request return that status, and
    ``digest_header=False`` leaves out Docker-Content-Digest.
    ``silent_close`` closes each connection after one response. With
    ``client_ca`` the TLS server requires a client certificate signed by it.
    A rejected handshake ends the way a registry ends it: the alert is sent,
    then the server reads what the client still sends until it closes, so
    the alert reaches the client. ``reset_after_handshake`` instead resets
    each connection right after a completed handshake.
    ``requests``
    records ``(method, path, authorization scheme)`` and ``connections``
    counts accepted TCP connections.
    """

    def __init__(self, auth=None, tls=None, client_ca=None, reset_after_handshake=False):
        self.auth = auth
        self.tls = tls
        self.manifests = {}
        self.manifest_status = None
        self.digest_header = True
        self.redirects = {}
        self.silent_close = False
        self.requests = []
        self.token_queries = []
        self.tokens = set()
        self.connections = 0
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                registry.handle(self, "GET")

            def do_HEAD(self):
                registry.handle(self, "HEAD")

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, address = super().get_request()
                registry.connections += 1
                if registry.context is None:
                    return sock, address
                return registry.handshake(sock), address

        self.context = None
        self.reset_after_handshake = reset_after_handshake
        self.server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(tls.server_cert, tls.server_key)
            if client_ca is not None:
                self.context.verify_mode = ssl.CERT_REQUIRED
                self.context.load_verify_locations(cafile=client_ca)
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.02,), daemon=True
        )
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.server.server_address[1]

    @property
    def url(self):
        return "%s://%s" % ("https" if self.tls else "http", self.address)

    def add(self, repository, tag, body=INDEX, media_type=OCI_INDEX):
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[(repository, tag)] = (media_type, body)
        self.manifests[(repository, digest)] = (media_type, body)
        return "%s/%s:%s" % (self.address, repository, tag)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def handshake(self, sock):
        """Return the TLS socket, or close a rejected one and raise OSError.

        The server loop drops a connection for which get_request raises
        OSError.
        """
        connection = self.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        connection.settimeout(10)
        try:
            connection.do_handshake()
        except (ssl.SSLError, OSError):
            # The alert is sent. Half-close and read until the client
            # closes, so the kernel sends no reset that could overtake it.
            raw = socket.socket(fileno=os.dup(connection.fileno()))
            connection.close()
            with raw:
                raw.settimeout(5)
                try:
                    raw.shutdown(socket.SHUT_WR)
                    while raw.recv(65536):
                        pass
                except OSError:
                    pass
            raise OSError("TLS handshake rejected") from None
        if self.reset_after_handshake:
            connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            connection.close()
            raise OSError("connection reset after the handshake")
        connection.settimeout(None)
        return connection

    # Request handling

    def handle(self, handler, method):
        parts = urlsplit(handler.path)
        authorization = handler.headers.get("Authorization", "")
        self.requests.append((method, parts.path, authorization.partition(" ")[0]))
        if parts.path == "/v2/":
            if self.auth is None:
                return self.reply(handler, method, 200, b"{}")
            return self.reply(handler, method, 401, b"{}", self.challenge())
        if parts.path == "/token":
            return self.token(handler, parse_qs(parts.query))
        if "/manifests/" in parts.path:
            return self.manifest(handler, method, parts.path, authorization)
        return self.reply(handler, method, 404, b"{}")

    def challenge(self, scope=None):
        if self.auth == "basic":
            return {"WWW-Authenticate": 'Basic realm="fake"'}
        value = 'Bearer realm="%s/token",service="fake-registry"' % self.url
        if scope:
            value += ',scope="%s"' % scope
        return {"WWW-Authenticate": value}

    def authorized(self, authorization, repository):
        if self.auth is None:
            return True
        if self.auth == "basic":
            return authorization == basic(USERNAME, PASSWORD)
        token = authorization[len("Bearer ") :]
        return authorization.startswith("Bearer ") and (token, repository) in (
            self.tokens
        )

    def token(self, handler, query):
        self.token_queries.append(query)
        if handler.headers.get("Authorization") != basic(USERNAME, PASSWORD):
            return self.reply(handler, "GET", 401, b'{"errors": []}')
        scope = query["scope"][0]
        repository = scope.split(":")[1]
        token = "token-%d" % len(self.token_queries)
        self.tokens.add((token, repository))
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        return self.reply(handler, "GET", 200, body)

    def manifest(self, handler, method, path, authorization):
        repository, _separator, reference = path[len("/v2/") :].partition("/manifests/")
        if repository in self.redirects:
            location = "/v2/%s/manifests/%s" % (self.redirects[repository], reference)
            return self.reply(handler, method, 307, b"", {"Location": location})
        if not self.authorized(authorization, repository):
            scope = "repository:%s:pull" % repository
            return self.reply(handler, method, 401, b"{}", self.challenge(scope))
        if self.manifest_status is not None:
            return self.reply(handler, method, self.manifest_status, b"{}")
        found = self.manifests.get((repository, reference))
        if found is None:
            body = b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
            return self.reply(handler, method, 404, body)
        media_type, body = found
        headers = {"Content-Type": media_type}
        if self.digest_header:
            headers["Docker-Content-Digest"] = (
                "sha256:" + hashlib.sha256(body).hexdigest()
            )
        return self.reply(handler, method, 200, body, headers)

    def reply(self, handler, method, status, body, headers=None):
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(body)
        if self.silent_close:
            # Close without "Connection: close", as a server whose idle
            # timeout ends a kept-alive connection.
            handler.close_connection = True


def basic(username, password):
    token = base64.b64encode(("%s:%s" % (username, password)).encode()).decode()
    return "Basic " + token


@pytest.fixture
def registry():
    server = FakeRegistry()
    yield server
    server.stop()


@pytest.fixture
def basic_registry():
    server = FakeRegistry(auth="basic")
    yield server
    server.stop()


@pytest.fixture
def bearer_registry():
    server = FakeRegistry(auth="bearer")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return make_tls_files(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def tls_registry(tls_files):
    server = FakeRegistry(tls=tls_files)
    yield server
    server.stop()


def client_for(tmp_path, **options):
    credentials = {}
    if options.pop("credentials", False):
        credentials = {"username": USERNAME, "password": PASSWORD}
    return RegistryClient(
        RegistryOptions(**dict(options, **credentials)),
        timeout=5,
        environ=no_environment(tmp_path),
    )


# Pure functions


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("nginx:1.25", ("docker.io", "library/nginx", "1.25", "sha256")),
        ("quay.io/pko/manager", ("quay.io", "pko/manager", "latest", "sha256")),
        (
            "127.0.0.1:5000/a/b:v1@" + INDEX_DIGEST,
            ("127.0.0.1:5000", "a/b", INDEX_DIGEST, "sha256"),
        ),
        ("quay.io/a@" + INDEX_SHA512, ("quay.io", "a", INDEX_SHA512, "sha512")),
    ],
    ids=["docker-hub-short", "no-tag", "tag-and-digest", "sha512"],
)
def test_manifest_target(reference, expected):
    target = manifest_target(reference)
    assert (target.registry, target.repository, target.selector, target.algorithm) == (
        expected
    )


def test_docker_hub_api_host():
    assert registry_api_host("docker.io") == "registry-1.docker.io"


def test_other_registry_api_host_unchanged():
    assert registry_api_host("127.0.0.1:5000") == "127.0.0.1:5000"


@pytest.mark.parametrize(
    "header, expected",
    [
        (
            'Basic realm="Registry Realm"',
            Challenge("basic", {"realm": "Registry Realm"}),
        ),
        (
            'Bearer realm="https://auth.test/token",service="registry.test",'
            'scope="repository:a/b:pull,push"',
            Challenge(
                "bearer",
                {
                    "realm": "https://auth.test/token",
                    "service": "registry.test",
                    "scope": "repository:a/b:pull,push",
                },
            ),
        ),
        (
            "Bearer realm=https://auth.test/token",
            Challenge("bearer", {"realm": "https://auth.test/token"}),
        ),
        ('Basic realm="say \\"hi\\""', Challenge("basic", {"realm": 'say "hi"'})),
    ],
    ids=["basic", "bearer-with-scope", "unquoted", "escaped-quote"],
)
def test_parse_challenges(header, expected):
    assert parse_challenges([header]) == [expected]


# Digests and manifests


def test_digest_from_header(registry, tmp_path):
    reference = registry.add("pko/manager", "v1")
    client = client_for(tmp_path, tls_verify=False)
    assert client.manifest_digest(reference) == INDEX_DIGEST


def test_digest_uses_head_only(registry, tmp_path):
    reference = registry.add("pko/manager", "v1")
    client_for(tmp_path, tls_verify=False).manifest_digest(reference)
    assert [
        request[0] for request in registry.requests if "/manifests/" in request[1]
    ] == ["HEAD"]


def test_digest_without_header_hashes_body(registry, tmp_path):
    reference = registry.add("pko/manager", "v1")
    registry.digest_header = False
    client = client_for(tmp_path, tls_verify=False)
    assert client.manifest_digest(reference) == INDEX_DIGEST
    assert ("GET", "/v2/pko/manager/manifests/v1", "") in registry.requests


def test_digest_in_other_algorithm_hashes_body(registry, tmp_path):
    registry.add("pko/manager", "v1")
    registry.manifests[("pko/manager", INDEX_SHA512)] = (OCI_INDEX, INDEX)
    client = client_for(tmp_path, tls_verify=False)
    reference = "%s/pko/manager@%s" % (registry.address, INDEX_SHA512)
    assert client.manifest_digest(reference) == INDEX_SHA512


def test_get_manifest_returns_body(registry, tmp_path):
    reference = registry.add("pko/manager", "v1")
    assert client_for(tmp_path, tls_verify=False).get_manifest(reference) == INDEX


def test_get_manifest_by_digest(registry, tmp_path):
    registry.add("pko/manager", "v1")
    reference = "%s/pko/manager@%s" % (registry.address, INDEX_DIGEST)
    assert client_for(tmp_path, tls_verify=False).get_manifest(reference) == INDEX


def test_missing_manifest_digest_is_none(registry, tmp_path):
    client = client_for(tmp_path, tls_verify=False)
    assert client.manifest_digest(registry.address + "/pko/none:v1") is None


def test_missing_manifest_body_is_none(registry, tmp_path):
    client = client_for(tmp_path, tls_verify=False)
    assert client.get_manifest(registry.address + "/pko/none:v1") is None


def test_redirect_followed(registry, tmp_path):
    registry.add("pko/target", "v1")
    registry.redirects["pko/moved"] = "pko/target"
    client = client_for(tmp_path, tls_verify=False)
    assert client.get_manifest(registry.address + "/pko/moved:v1") == INDEX


def test_schema1_manifest_unsupported(registry, tmp_path):
    reference = registry.add("old/image", "v1", b"{}", DOCKER_SCHEMA1_SIGNED)
    with pytest.raises(RegistryClientError) as caught:
        client_for(tmp_path, tls_verify=False).manifest_digest(reference)
    assert caught.value.kind == UNSUPPORTED


def test_connections_reused(registry, tmp_path):
    references = [registry.add("pko/image-%d" % number, "v1") for number in range(5)]
    client = client_for(tmp_path, tls_verify=False)
    for reference in references:
        client.manifest_digest(reference)
    # One failed HTTPS attempt, then one plain HTTP connection for every request.
    assert registry.connections == 2


def test_ping_sent_once(registry, tmp_path):
    references = [registry.add("pko/image-%d" % number, "v1") for number in range(3)]
    client = client_for(tmp_path, tls_verify=False)
    for reference in references:
        client.manifest_digest(reference)
    assert [request[1] for request in registry.requests].count("/v2/") == 1


def test_closed_connection_reopened(registry, tmp_path):
    reference = registry.add("pko/manager", "v1")
    client = client_for(tmp_path, tls_verify=False)
    client.manifest_digest(reference)
    client.close()
    assert client.manifest_digest(reference) == INDEX_DIGEST


def test_silently_closed_connection_retried(registry, tmp_path):
    reference = registry.add("pko/manager", "v1")
    registry.silent_close = True
    client = client_for(tmp_path, tls_verify=False)
    digests = [client.manifest_digest(reference) for _request in range(3)]
    assert digests == [INDEX_DIGEST] * 3


# Errors and their kinds


@pytest.mark.parametrize(
    "status, kind",
    [(500, TRANSIENT), (502, TRANSIENT), (503, TRANSIENT), (429, TRANSIENT),
     (400, OTHER), (418, OTHER)],  # fmt: skip
    ids=["500", "502", "503", "429", "400", "418"],
)
def test_status_classified(registry, tmp_path, status, kind):
    reference = registry.add("pko/manager", "v1")
    registry.manifest_status = status
    with pytest.raises(RegistryClientError) as caught:
        client_for(tmp_path, tls_verify=False).manifest_digest(reference)
    assert caught.value.kind == kind
    assert caught.value.status == status


def test_status_error_message(registry, tmp_path):
    reference = registry.add("pko/manager", "v1")
    registry.manifest_status = 503
    with pytest.raises(RegistryClientError) as caught:
        client_for(tmp_path, tls_verify=False).manifest_digest(reference)
    assert caught.value.message == (
        "HEAD http://%s/v2/pko/manager/manifests/v1 returned HTTP status 503"
        % registry.address
    )


def test_connection_refused_is_transient(tmp_path):
    server = FakeRegistry()
    address = server.address
    server.stop()
    with pytest.raises(RegistryClientError) as caught:
        client_for(tmp_path, tls_verify=False).manifest_digest(address + "/a:v1")
    assert caught.value.kind == TRANSIENT


def test_ping_unexpected_status_fails(registry, tmp_path):
    original = registry.handle

    def broken_ping(handler, method):
        if handler.path == "/v2/":
            return registry.reply(handler, method, 404, b"{}")
        return original(handler, method)

    registry.handle = broken_ping
    with pytest.raises(RegistryClientError) as caught:
        client_for(tmp_path, tls_verify=False).manifest_digest(
            registry.address + "/a:v1"
        )
    assert caught.value.kind == NOT_FOUND
    assert caught.value.message.startswith("GET http://%s/v2/ " % registry.address)


# TLS and the plain HTTP fallback


def test_plain_http_refused_with_tls_verify(registry, tmp_path):
    reference = registry.add("pko/manager", "v1")
    with pytest.raises(RegistryClientError) as caught:
        client_for(tmp_path).manifest_digest(reference)
    assert caught.value.kind == TLS


def test_http_fallback_without_tls_verify(registry, tmp_path):
    registry.add("pko/manager", "v1")
    client = client_for(tmp_path, tls_verify=False)
    assert client.endpoint(registry.address).scheme == "http"


def test_tls_with_cert_dir(tls_registry, tls_files, tmp_path):
    reference = tls_registry.add("pko/manager", "v1")
    client = client_for(tmp_path, cert_dir=tls_files.cert_dir)
    assert client.manifest_digest(reference) == INDEX_DIGEST


def test_tls_without_ca_fails_verification(tls_registry, tmp_path):
    reference = tls_registry.add("pko/manager", "v1")
    with pytest.raises(RegistryClientError) as caught:
        client_for(tmp_path).manifest_digest(reference)
    assert caught.value.kind == TLS
    assert "TLS certificate verification failed" in caught.value.message


def test_tls_without_verify_stays_on_https(tls_registry, tmp_path):
    reference = tls_registry.add("pko/manager", "v1")
    client = client_for(tmp_path, tls_verify=False)
    assert client.manifest_digest(reference) == INDEX_DIGEST
    assert client.endpoint(tls_registry.address).scheme == "https"


@pytest.fixture(scope="module")
def client_cert_dir(tls_files, tmp_path_factory):
    """Return a cert_dir with the CA and a client certificate signed by it."""
    directory = tmp_path_factory.mktemp("client-certs")
    shutil.copy(tls_files.ca_cert, str(directory / "ca.crt"))
    key, request = str(directory / "client.key"), str(directory / "client.csr")
    ca_key = os.path.join(os.path.dirname(tls_files.server_key), "ca.key")
    extensions = str(directory / "client.ext")
    with open(extensions, "w", encoding="utf-8") as handle:
        handle.write("extendedKeyUsage = clientAuth\n")
    commands = [
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=client",
         "-keyout", key, "-out", request],
        ["openssl", "x509", "-req", "-sha256", "-days", "1", "-in", request,
         "-CA", tls_files.ca_cert, "-CAkey", ca_key, "-CAcreateserial",
         "-extfile", extensions, "-out", str(directory / "client.cert")],
    ]  # fmt: skip
    for command in commands:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    os.unlink(request)
    os.unlink(extensions)
    return str(directory)


def test_client_certificate_sent(tls_files, client_cert_dir, tmp_path):
    server = FakeRegistry(tls=tls_files, client_ca=tls_files.ca_cert)
    try:
        reference = server.add("pko/manager", "v1")
        client = client_for(tmp_path, cert_dir=client_cert_dir)
        assert client.manifest_digest(reference) == INDEX_DIGEST
    finally:
        server.stop()


def test_client_certificate_missing_fails(tls_files, tmp_path):
    server = FakeRegistry(tls=tls_files, client_ca=tls_files.ca_cert)
    try:
        reference = server.add("pko/manager", "v1")
        with pytest.raises(RegistryClientError) as caught:
            client_for(tmp_path, cert_dir=tls_files.cert_dir).manifest_digest(reference)
        assert caught.value.kind == TLS
    finally:
        server.stop()


def test_reset_names_client_certificate(tls_files, tmp_path):
    # The other ending of a rejected TLS 1.3 handshake: the reset overtakes
    # the alert. It stays transient and the message names the likely cause.
    server = FakeRegistry(tls=tls_files, reset_after_handshake=True)
    try:
        reference = server.add("pko/manager", "v1")
        with pytest.raises(RegistryClientError) as caught:
            client_for(tmp_path, cert_dir=tls_files.cert_dir).manifest_digest(reference)
        assert caught.value.kind == TRANSIENT, caught.value.message
        assert caught.value.message.startswith(
            "GET https://%s/v2/ failed: the registry "
            "closed the TLS connection before it answered (" % server.address
        )
        assert caught.value.message.endswith(
            "put a client certificate and its key for %s, as NAME.cert and "
            "NAME.key, into cert_dir." % server.address
        )
    finally:
        server.stop()


def test_certs_d_used_without_cert_dir(tls_registry, tls_files, tmp_path, monkeypatch):
    # A non-root user's certs.d under HOME, the first place skopeo looks.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    host_dir = tmp_path / ".config" / "containers" / "certs.d" / tls_registry.address
    host_dir.mkdir(parents=True)
    with open(os.path.join(tls_files.cert_dir, "ca.crt"), "rb") as handle:
        (host_dir / "ca.crt").write_bytes(handle.read())
    reference = tls_registry.add("pko/manager", "v1")
    assert client_for(tmp_path).manifest_digest(reference) == INDEX_DIGEST


# Basic and bearer authentication


def test_basic_auth_with_credentials(basic_registry, tmp_path):
    reference = basic_registry.add("pko/manager", "v1")
    client = client_for(tmp_path, tls_verify=False, credentials=True)
    assert client.manifest_digest(reference) == INDEX_DIGEST


def test_basic_auth_without_credentials(basic_registry, tmp_path):
    reference = basic_registry.add("pko/manager", "v1")
    with pytest.raises(RegistryClientError) as caught:
        client_for(tmp_path, tls_verify=False).manifest_digest(reference)
    assert caught.value.kind == UNAUTHORIZED
    assert caught.value.status == 401


def test_basic_auth_wrong_password_hidden(basic_registry, tmp_path):
    reference = basic_registry.add("pko/manager", "v1")
    client = RegistryClient(
        RegistryOptions(tls_verify=False, username=USERNAME, password="Wrong-Secret-1"),
        environ=no_environment(tmp_path),
    )
    with pytest.raises(RegistryClientError) as caught:
        client.manifest_digest(reference)
    assert caught.value.kind == UNAUTHORIZED
    assert "Wrong-Secret-1" not in caught.value.message


def test_basic_auth_from_authfile(basic_registry, tmp_path):
    reference = basic_registry.add("pko/manager", "v1")
    authfile = tmp_path / "auth.json"
    token = base64.b64encode(("%s:%s" % (USERNAME, PASSWORD)).encode()).decode()
    authfile.write_text(
        json.dumps({"auths": {basic_registry.address: {"auth": token}}})
    )
    client = RegistryClient(
        RegistryOptions(tls_verify=False),
        authfile=str(authfile),
        environ=no_environment(tmp_path),
    )
    assert client.manifest_digest(reference) == INDEX_DIGEST


def test_credential_helper_unsupported(basic_registry, tmp_path):
    reference = basic_registry.add("pko/manager", "v1")
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"credHelpers": {basic_registry.address: "pass"}}))
    client = RegistryClient(
        RegistryOptions(tls_verify=False),
        authfile=str(authfile),
        environ=no_environment(tmp_path),
    )
    with pytest.raises(RegistryClientError) as caught:
        client.manifest_digest(reference)
    assert caught.value.kind == UNSUPPORTED


def test_bearer_token_flow(bearer_registry, tmp_path):
    reference = bearer_registry.add("pko/manager", "v1")
    client = client_for(tmp_path, tls_verify=False, credentials=True)
    assert client.manifest_digest(reference) == INDEX_DIGEST
    assert bearer_registry.token_queries == [
        {
            "service": ["fake-registry"],
            "scope": ["repository:pko/manager:pull"],
            "account": [USERNAME],
        }
    ]


def test_bearer_token_reused(bearer_registry, tmp_path):
    reference = bearer_registry.add("pko/manager", "v1")
    client = client_for(tmp_path, tls_verify=False, credentials=True)
    client.manifest_digest(reference)
    client.get_manifest(reference)
    assert len(bearer_registry.token_queries) == 1


def test_bearer_token_per_repository(bearer_registry, tmp_path):
    first = bearer_registry.add("pko/manager", "v1")
    second = bearer_registry.add("pko/package", "v1")
    client = client_for(tmp_path, tls_verify=False, credentials=True)
    client.manifest_digest(first)
    client.manifest_digest(second)
    assert [query["scope"] for query in bearer_registry.token_queries] == [
        ["repository:pko/manager:pull"],
        ["repository:pko/package:pull"],
    ]


def test_bearer_wrong_password_unauthorized(bearer_registry, tmp_path):
    reference = bearer_registry.add("pko/manager", "v1")
    client = RegistryClient(
        RegistryOptions(tls_verify=False, username=USERNAME, password="Wrong-Secret-2"),
        environ=no_environment(tmp_path),
    )
    with pytest.raises(RegistryClientError) as caught:
        client.manifest_digest(reference)
    assert caught.value.kind == UNAUTHORIZED
    assert "Wrong-Secret-2" not in caught.value.message
    assert USERNAME not in caught.value.message


def test_bearer_over_tls(tls_files, tmp_path):
    server = FakeRegistry(auth="bearer", tls=tls_files)
    try:
        reference = server.add("pko/manager", "v1")
        client = client_for(tmp_path, cert_dir=tls_files.cert_dir, credentials=True)
        assert client.manifest_digest(reference) == INDEX_DIGEST
    finally:
        server.stop()


# Proxies


def test_proxy_for_remote_host_unsupported(tmp_path):
    client = RegistryClient(
        RegistryOptions(),
        environ={"HOME": str(tmp_path), "HTTPS_PROXY": "http://127.0.0.1:9"},
    )
    with pytest.raises(RegistryClientError) as caught:
        client._check_proxy("https", "registry.example.com", "https://x/v2/")
    assert caught.value.kind == UNSUPPORTED


@pytest.mark.parametrize(
    "host, no_proxy",
    [
        ("127.0.0.1", ""),
        ("localhost", ""),
        ("registry.example.com", "example.com"),
        ("registry.example.com", "*"),
    ],
    ids=["loopback", "localhost", "no-proxy-domain", "no-proxy-all"],
)
def test_proxy_bypassed(tmp_path, host, no_proxy):
    client = RegistryClient(
        RegistryOptions(),
        environ={
            "HOME": str(tmp_path),
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": no_proxy,
        },
    )
    client._check_proxy("https", host, "https://%s/v2/" % host)


def test_proxy_set_loopback_registry_still_reached(registry, tmp_path):
    reference = registry.add("pko/manager", "v1")
    environ = dict(no_environment(tmp_path), HTTP_PROXY="http://127.0.0.1:9")
    client = RegistryClient(RegistryOptions(tls_verify=False), environ=environ)
    assert client.manifest_digest(reference) == INDEX_DIGEST


# ManifestInspector


class RecordingClient:
    """Return fixed results or raise a fixed error, recording references."""

    def __init__(self, digest=None, raw=None, error=None):
        self.digest, self.raw, self.error = digest, raw, error
        self.references = []

    def manifest_digest(self, reference):
        self.references.append(reference)
        if self.error:
            raise self.error
        return self.digest

    def get_manifest(self, reference):
        self.references.append(reference)
        if self.error:
            raise self.error
        return self.raw

    def close(self):
        pass


class RecordingSkopeo:
    def __init__(self, error=None):
        self.calls = []
        self.error = error

    def inspect_digest(self, reference, side=SOURCE):
        self.calls.append(("inspect_digest", reference, side))
        if self.error:
            raise self.error
        return "sha256:" + "5" * 64

    def inspect_raw(self, reference, side=SOURCE):
        self.calls.append(("inspect_raw", reference, side))
        return b"from skopeo"


def test_inspector_uses_http_answer():
    skopeo = RecordingSkopeo()
    inspector = ManifestInspector(
        skopeo, {DESTINATION: RecordingClient(digest=INDEX_DIGEST)}
    )
    assert inspector.inspect_digest("mirror.test/a:v1", DESTINATION) == INDEX_DIGEST
    assert skopeo.calls == []


def test_inspector_not_found_without_skopeo():
    skopeo = RecordingSkopeo()
    inspector = ManifestInspector(skopeo, {SOURCE: RecordingClient(raw=None)})
    assert inspector.inspect_raw("quay.io/a:v1", SOURCE) is None
    assert skopeo.calls == []


@pytest.mark.parametrize(
    "kind", [UNAUTHORIZED, TRANSIENT, TLS, OTHER, UNSUPPORTED], ids=str
)
def test_inspector_asks_skopeo_after_error(kind):
    skopeo = RecordingSkopeo()
    client = RecordingClient(error=RegistryClientError("failed", kind))
    inspector = ManifestInspector(skopeo, {DESTINATION: client})
    inspector.inspect_digest("mirror.test/a:v1", DESTINATION)
    assert skopeo.calls == [("inspect_digest", "mirror.test/a:v1", DESTINATION)]


def test_inspector_raises_skopeo_error():
    error = SkopeoError("skopeo inspect failed (rc=1): unauthorized", kind=UNAUTHORIZED)
    skopeo = RecordingSkopeo(error=error)
    client = RecordingClient(error=RegistryClientError("401", UNAUTHORIZED, 401))
    inspector = ManifestInspector(skopeo, {DESTINATION: client})
    with pytest.raises(SkopeoError) as caught:
        inspector.inspect_digest("mirror.test/a:v1", DESTINATION)
    assert caught.value is error


def test_inspector_side_without_client_uses_skopeo():
    skopeo = RecordingSkopeo()
    inspector = ManifestInspector(skopeo, {DESTINATION: RecordingClient()})
    assert inspector.inspect_raw("quay.io/a:v1", SOURCE) == b"from skopeo"


def test_inspector_registries_conf_uses_skopeo():
    skopeo = RecordingSkopeo()
    client = RecordingClient(raw=INDEX)
    conf = RegistriesConf(hosts=frozenset(["quay.io"]))
    inspector = ManifestInspector(skopeo, {SOURCE: client}, conf)
    inspector.inspect_raw("quay.io/pko/a:v1", SOURCE)
    assert client.references == []
    assert skopeo.calls == [("inspect_raw", "quay.io/pko/a:v1", SOURCE)]


def test_inspector_summary_counts_and_reasons():
    skopeo = RecordingSkopeo()
    client = RecordingClient(digest=INDEX_DIGEST)
    failing = RecordingClient(error=RegistryClientError("503", TRANSIENT, 503))
    conf = RegistriesConf(hosts=frozenset(["quay.io"]))
    inspector = ManifestInspector(skopeo, {SOURCE: client, DESTINATION: failing}, conf)
    inspector.inspect_digest("127.0.0.1:5000/a:v1", SOURCE)
    inspector.inspect_digest("quay.io/a:v1", SOURCE)
    inspector.inspect_digest("127.0.0.1:6000/a:v1", DESTINATION)
    assert inspector.summary() == (
        "manifest checks: 1 over the registry API, 2 with skopeo because of: "
        "registries.conf configures quay.io (1); transient at 127.0.0.1:6000 "
        "(HTTP 503) (1)"
    )
