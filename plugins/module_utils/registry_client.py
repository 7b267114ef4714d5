# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read manifests and manifest digests over the registry HTTP API v2.

``skopeo inspect --raw`` costs a process start, a ``/v2/`` ping and a token
request for every manifest. :class:`RegistryClient` sends ``HEAD`` or ``GET
/v2/<repository>/manifests/<tag or digest>`` from Python instead and keeps
connections, pings and bearer tokens across requests. It reaches a registry
the way skopeo 1.9.3 (containers/image 5.23) does:

- HTTPS with certificate verification, the ``*.crt`` files of ``cert_dir``
  added to the default trust and ``*.cert``/``*.key`` pairs as client
  certificates. Without ``cert_dir`` the per-host directories under
  ``/etc/containers/certs.d`` and ``/etc/docker/certs.d`` are read. With
  ``tls_verify`` off, HTTPS without verification first, then plain HTTP.
- Credentials from the per-side username and password, or else from the
  first auth file that has them: ``authfile`` (or ``$REGISTRY_AUTH_FILE``,
  or ``$XDG_RUNTIME_DIR/containers/auth.json``),
  ``$XDG_CONFIG_HOME/containers/auth.json``, ``$DOCKER_CONFIG/config.json``
  or ``~/.docker/config.json``, and ``~/.dockercfg``.
- HTTP Basic, or the bearer token flow that the ``WWW-Authenticate``
  challenge of the ``/v2/`` ping names.
- Docker Hub's ``docker.io`` is served by ``registry-1.docker.io``.

Where the client cannot do what skopeo would do, it raises
RegistryClientError with kind ``UNSUPPORTED``: a credential helper or an
identity token in an auth file, a proxy from the environment, a schema 1 or
unknown manifest type. :class:`ManifestInspector` then runs the check with
skopeo. It also uses skopeo for every registry that a
containers-registries.conf(5) file names, because such an entry can redirect
the reference or change how the registry is reached. Errors carry a kind
like the skopeo runner's (``not_found``, ``unauthorized``, ``transient``,
``tls``, ``other``). No message or log of this module contains a credential.

This module has no Ansible import.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlencode, urljoin, urlsplit

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    DOCKER_HUB_DOMAIN,
    ImageReferenceError,
    parse_image_reference,
)
from ansible_collections.pko.airgap.plugins.module_utils.registry_config import (
    Credentials,
    RegistriesConf,
    UnsupportedConfigError,
    auth_file_paths,
    default_cert_dir,
    find_credentials,
    tls_context,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    NOT_FOUND,
    OTHER,
    SOURCE,
    TLS,
    TRANSIENT,
    UNAUTHORIZED,
    RegistryOptions,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    manifest_digest as hash_manifest,
)

# Kind of error for a configuration or response that this client cannot
# reproduce faithfully, so that skopeo must run the check.
UNSUPPORTED = "unsupported"

DEFAULT_TIMEOUT = 30.0
DOCKER_HUB_API_HOST = "registry-1.docker.io"

# The manifest types that skopeo 1.9 accepts, so that a registry which
# negotiates by Accept header returns what skopeo would see.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
ACCEPTED_MEDIA_TYPES = (
    OCI_MANIFEST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
)
# Registries compute a schema 1 digest without the signatures, so the header
# differs from the hash of the bytes that the skopeo check compares.
HASHED_MEDIA_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)

# Body limits of containers/image 5.23 for manifests and token responses.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_TOKEN_BYTES = 1024 * 1024
MAX_PING_BYTES = 64 * 1024
MAX_REDIRECTS = 5
# Docker's token specification: a token without expires_in lives 60 seconds,
# and clients treat shorter lifetimes as 60 seconds too.
MIN_TOKEN_SECONDS = 60.0

_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)


class RegistryClientError(Exception):
    """A manifest request that failed, with the kind of failure.

    ``kind`` is ``NOT_FOUND``, ``UNAUTHORIZED``, ``TRANSIENT``, ``TLS``,
    ``OTHER`` or ``UNSUPPORTED``. ``status`` is the HTTP status when the
    registry sent a response, and None otherwise.
    """

    def __init__(self, message: str, kind: str, status: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: a lower-case scheme and its parameters."""

    scheme: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class ManifestTarget:
    """A manifest's registry, repository, tag or digest, and digest algorithm."""

    registry: str
    repository: str
    selector: str
    algorithm: str

    @property
    def name(self) -> str:
        """Return ``registry/repository``, the key that auth files match on."""
        return "%s/%s" % (self.registry, self.repository)


def manifest_target(reference: str) -> ManifestTarget:
    """Return the registry, repository and tag or digest of ``reference``.

    A reference with both a tag and a digest is read by digest, and one with
    neither by ``latest``, as skopeo does.
    """
    parsed = parse_image_reference(reference)
    algorithm = "sha256"
    if parsed.digest is not None:
        selector = parsed.digest
        algorithm = parsed.digest.partition(":")[0]
    else:
        selector = parsed.tag or "latest"
    return ManifestTarget(parsed.registry, parsed.repository, selector, algorithm)


def registry_api_host(registry: str) -> str:
    """Return the host that serves the API of ``registry`` (another for Docker Hub)."""
    if registry == DOCKER_HUB_DOMAIN:
        return DOCKER_HUB_API_HOST
    return registry


def parse_challenges(values: Sequence[str]) -> List[Challenge]:
    """Parse ``WWW-Authenticate`` header values, one challenge per value."""
    challenges = []
    for value in values:
        scheme, _separator, rest = value.strip().partition(" ")
        if not scheme:
            continue
        params = {}
        for match in re.finditer(
            r'([A-Za-z0-9_-]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', rest
        ):
            quoted = match.group(2)
            if quoted is not None:
                params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted)
            else:
                params[match.group(1).lower()] = match.group(3)
        challenges.append(Challenge(scheme.lower(), params))
    return challenges


def status_error(method: str, url: str, status: int) -> RegistryClientError:
    """Return the error for an unexpected HTTP status, classified like skopeo's."""
    if status == 404:
        kind = NOT_FOUND
    elif status in (401, 403):
        kind = UNAUTHORIZED
    elif status == 429 or status >= 500:
        kind = TRANSIENT
    else:
        kind = OTHER
    return RegistryClientError(
        "%s %s returned HTTP status %d" % (method, url, status), kind, status
    )


def transport_error(method: str, url: str, exc: BaseException) -> RegistryClientError:
    """Return the error for a failed connection or TLS handshake, classified."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or str(exc)
        return RegistryClientError(
            "%s %s failed: TLS certificate verification failed: %s. Give the CA in "
            "cert_dir, or turn tls_verify off for a registry you trust."
            % (method, url, detail),
            TLS,
        )
    if isinstance(exc, ssl.SSLError):
        return RegistryClientError(
            "%s %s failed: TLS error: %s" % (method, url, exc.reason or exc), TLS
        )
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return RegistryClientError("%s %s timed out" % (method, url), TRANSIENT)
    if isinstance(exc, socket.gaierror):
        kind = TRANSIENT if exc.errno == socket.EAI_AGAIN else OTHER
        return RegistryClientError(
            "%s %s failed: host name lookup failed: %s" % (method, url, exc.strerror),
            kind,
        )
    transient_errnos = (errno.ECONNREFUSED, errno.ECONNRESET, errno.EPIPE,
                        errno.EHOSTUNREACH, errno.ENETUNREACH)  # fmt: skip
    if isinstance(exc, (ConnectionError, http.client.IncompleteRead)) or (
        isinstance(exc, OSError) and exc.errno in transient_errnos
    ):
        return RegistryClientError(
            "%s %s failed: %s" % (method, url, exc or type(exc).__name__), TRANSIENT
        )
    return RegistryClientError(
        "%s %s failed: %s: %s" % (method, url, type(exc).__name__, exc), OTHER
    )


def _closed_after_handshake(method, parts, exc) -> RegistryClientError:
    """Return the error for a new TLS connection closed before any response.

    With TLS 1.3 a registry that requires a client certificate learns that
    none was sent only after the client's side of the handshake is done. It
    sends an alert and closes. The client sees the alert (an SSLError), or,
    when the close arrives first, a reset or an end of file that breaks the
    TLS protocol. These two stay transient, since a restarting registry
    causes them too, but the message names the likelier cause.
    """
    return RegistryClientError(
        "%s %s://%s%s failed: the registry closed the TLS connection before it "
        "answered (%s). A registry that requires a client certificate does this "
        "when none is sent: put a client certificate and its key for %s, as "
        "NAME.cert and NAME.key, into cert_dir."
        % (method, parts.scheme, parts.netloc, parts.path,
           exc or type(exc).__name__, parts.netloc),  # fmt: skip
        TRANSIENT,
    )


# The client


@dataclass(frozen=True)
class Endpoint:
    """A registry reached once: URL scheme, API host, challenges and TLS context."""

    scheme: str
    host: str
    challenges: Tuple[Challenge, ...]
    context: Optional[ssl.SSLContext]


@dataclass(frozen=True)
class Response:
    """Status, headers and body of one HTTP exchange."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes


class RegistryClient:
    """Read manifests from registries with one side's connection settings.

    ``options`` are the skopeo runner's RegistryOptions for the side (TLS,
    cert_dir, credentials), and ``authfile`` is the auth file given to skopeo.
    ``timeout`` (seconds) applies to each connect and read. ``environ`` and
    ``home`` replace the process environment and home directory in tests.
    The client is safe to share between threads: each thread keeps its own
    connections, and pings and tokens are shared.
    """

    def __init__(
        self,
        options: Optional[RegistryOptions] = None,
        authfile: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT,
        environ: Optional[Mapping[str, str]] = None,
        home: Optional[str] = None,
    ) -> None:
        self.options = options or RegistryOptions()
        self.timeout = timeout
        self.environ = dict(os.environ if environ is None else environ)
        self.home = home or self.environ.get("HOME") or os.path.expanduser("~")
        self.auth_paths = auth_file_paths(
            authfile, self.environ, self.home, os.getuid()
        )
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: List[http.client.HTTPConnection] = []
        self._endpoints: Dict[str, Endpoint] = {}
        self._contexts: Dict[str, ssl.SSLContext] = {}
        self._credentials: Dict[str, Optional[Credentials]] = {}
        self._tokens: Dict[Tuple[str, str, str], Tuple[str, float]] = {}

    # Manifests

    def manifest_digest(self, reference: str) -> Optional[str]:
        """Return the manifest digest of ``reference``, or None when it is missing.

        Uses ``HEAD`` and the ``Docker-Content-Digest`` header, and ``GET``
        plus a hash of the body when the header is missing or uses another
        algorithm than a digest in ``reference``.
        """
        target = self._target(reference)
        response = self._manifest_request("HEAD", target)
        if response is None:
            return None
        _check_media_type(response, reference)
        digest = response.headers.get("Docker-Content-Digest", "").strip()
        if _DIGEST_RE.match(digest) and digest.startswith(target.algorithm + ":"):
            return digest

        raw = self._read_manifest(target, reference)
        if raw is None:
            return None
        return hash_manifest(raw, target.algorithm)

    def get_manifest(self, reference: str) -> Optional[bytes]:
        """Return the raw manifest of ``reference``, or None when the registry has none.

        For a multi-arch image this is the index, as ``skopeo inspect --raw``
        returns it.
        """
        return self._read_manifest(self._target(reference), reference)

    def close(self) -> None:
        """Close every connection that this client opened, in any thread."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    def _target(self, reference: str) -> ManifestTarget:
        try:
            return manifest_target(reference)
        except ImageReferenceError as exc:
            raise RegistryClientError(str(exc), UNSUPPORTED) from None

    def _read_manifest(self, target: ManifestTarget, reference: str) -> Optional[bytes]:
        response = self._manifest_request("GET", target)
        if response is None:
            return None
        _check_media_type(response, reference)
        header = response.headers.get("Docker-Content-Digest", "").strip()
        computed = hash_manifest(response.body)
        if header.startswith("sha256:") and header != computed:
            raise RegistryClientError(
                "the registry sent digest %s for %s, but the body hashes to %s"
                % (header, reference, computed),
                UNSUPPORTED,
            )
        return response.body

    def _manifest_request(
        self, method: str, target: ManifestTarget
    ) -> Optional[Response]:
        endpoint = self.endpoint(target.registry)
        url = "%s://%s/v2/%s/manifests/%s" % (
            endpoint.scheme,
            endpoint.host,
            target.repository,
            target.selector,
        )
        headers = {"Accept": ", ".join(ACCEPTED_MEDIA_TYPES)}
        authorization = self._authorization(endpoint, target)
        if authorization:
            headers["Authorization"] = authorization
        response = self._send(
            method, url, headers, MAX_MANIFEST_BYTES, endpoint.context
        )
        if response.status == 200:
            return response
        if response.status == 404:
            return None
        raise status_error(method, url, response.status)

    # Registry endpoint and authentication

    def endpoint(self, registry: str) -> Endpoint:
        """Return the scheme and challenges of ``registry``, pinging ``/v2/`` once.

        With TLS verification on only HTTPS is tried. With it off, HTTPS
        without verification is tried first and plain HTTP after any
        failure, as skopeo does.
        """
        with self._lock:
            cached = self._endpoints.get(registry)
        if cached is not None:
            return cached

        host = registry_api_host(registry)
        context = self._tls_context(registry)
        schemes = ["https"] if self.options.tls_verify else ["https", "http"]
        errors: List[RegistryClientError] = []
        for scheme in schemes:
            url = "%s://%s/v2/" % (scheme, host)
            try:
                response = self._send("GET", url, {}, MAX_PING_BYTES, context)
            except RegistryClientError as exc:
                errors.append(exc)
                continue
            if response.status not in (200, 401):
                errors.append(status_error("GET", url, response.status))
                continue
            challenges = parse_challenges(
                response.headers.get_all("WWW-Authenticate") or []
            )
            endpoint = Endpoint(
                scheme, host, tuple(challenges), context if scheme == "https" else None
            )
            with self._lock:
                self._endpoints[registry] = endpoint
            return endpoint
        # The last scheme's error, as skopeo reports it after its fallback.
        raise errors[-1]

    def _tls_context(self, registry: str) -> ssl.SSLContext:
        with self._lock:
            cached = self._contexts.get(registry)
        if cached is not None:
            return cached
        cert_dir = self.options.cert_dir or default_cert_dir(
            registry, self.home, os.geteuid()
        )
        try:
            context = tls_context(self.options.tls_verify, cert_dir)
        except UnsupportedConfigError as exc:
            raise RegistryClientError(str(exc), UNSUPPORTED) from None
        with self._lock:
            self._contexts[registry] = context
        return context

    def credentials(self, target: ManifestTarget) -> Optional[Credentials]:
        """Return the side's username and password, or those of the auth files."""
        if self.options.username and self.options.password:
            return Credentials(self.options.username, self.options.password)
        with self._lock:
            if target.name in self._credentials:
                return self._credentials[target.name]
        try:
            found = find_credentials(target.registry, target.name, self.auth_paths)
        except UnsupportedConfigError as exc:
            raise RegistryClientError(str(exc), UNSUPPORTED) from None
        with self._lock:
            self._credentials[target.name] = found
        return found

    def _authorization(
        self, endpoint: Endpoint, target: ManifestTarget
    ) -> Optional[str]:
        for challenge in endpoint.challenges:
            if challenge.scheme == "basic":
                credentials = self.credentials(target)
                return credentials.basic_header() if credentials else None
            if challenge.scheme == "bearer":
                return "Bearer " + self._token(endpoint, challenge, target)
        return None

    def _token(
        self, endpoint: Endpoint, challenge: Challenge, target: ManifestTarget
    ) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryClientError(
                "the bearer challenge of %s names no realm" % endpoint.host, OTHER
            )
        service = challenge.params.get("service", "")
        scope = "repository:%s:pull" % target.repository
        key = (realm, service, scope)
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]

        query = []
        if service:
            query.append(("service", service))
        query.append(("scope", scope))
        credentials = self.credentials(target)
        headers = {}
        if credentials is not None:
            query.append(("account", credentials.username))
            headers["Authorization"] = credentials.basic_header()
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        response = self._send("GET", url, headers, MAX_TOKEN_BYTES, endpoint.context)
        if response.status != 200:
            raise status_error("GET", realm, response.status)
        token, seconds = _parse_token(response.body, realm)
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + seconds - 5)
        return token

    # HTTP

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        limit: int,
        context: Optional[ssl.SSLContext],
    ) -> Response:
        """Send one request and follow redirects.

        Raises a classified RegistryClientError when no response arrives.
        """
        headers = dict(headers)
        for _redirect in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            # Messages leave out the query, which names the account in a token request.
            display_url = url.partition("?")[0]
            self._check_proxy(parts.scheme, parts.hostname or "", display_url)
            try:
                response = self._exchange(method, parts, headers, limit, context)
            except (OSError, http.client.HTTPException) as exc:
                raise transport_error(method, display_url, exc) from None
            if response.status not in _REDIRECT_STATUSES:
                return response
            location = response.headers.get("Location")
            if not location:
                return response
            target = urljoin(url, location)
            if urlsplit(target).netloc != parts.netloc:
                # Credentials stay with the host they were meant for.
                headers.pop("Authorization", None)
            url = target
        raise RegistryClientError(
            "%s %s failed: more than %d redirects"
            % (method, display_url, MAX_REDIRECTS),
            OTHER,
        )

    def _exchange(self, method, parts, headers, limit, context) -> Response:
        pool = getattr(self._local, "connections", None)
        if pool is None:
            pool = self._local.connections = {}
        key = (
            parts.scheme,
            parts.netloc,
            id(context) if parts.scheme == "https" else 0,
        )
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query

        for attempt in (1, 2):
            connection = pool.get(key)
            reused = connection is not None
            if connection is None:
                connection = self._connect(parts, context)
                pool[key] = connection
            try:
                connection.request(method, path, headers=headers)
                response = connection.getresponse()
                body = response.read(limit + 1)
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
                ssl.SSLEOFError,
            ) as exc:
                connection.close()
                pool.pop(key, None)
                # A kept-alive connection may have been closed by the server
                # after its idle timeout; the request is repeated once.
                if reused and attempt == 1:
                    continue
                if not reused and parts.scheme == "https":
                    raise _closed_after_handshake(method, parts, exc) from None
                raise
            except BaseException:
                connection.close()
                pool.pop(key, None)
                raise
            if len(body) > limit:
                connection.close()
                pool.pop(key, None)
                raise RegistryClientError(
                    "%s %s://%s%s: the response is larger than %d bytes"
                    % (method, parts.scheme, parts.netloc, parts.path, limit),
                    OTHER,
                )
            if response.will_close:
                connection.close()
                pool.pop(key, None)
            return Response(response.status, response.headers, body)
        raise AssertionError("unreachable")

    def _connect(self, parts, context) -> http.client.HTTPConnection:
        host, port = parts.hostname, parts.port
        if parts.scheme == "https":
            if context is None:
                context = self._tls_context(parts.netloc)
            connection = http.client.HTTPSConnection(
                host, port, timeout=self.timeout, context=context
            )
        elif parts.scheme == "http":
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        else:
            raise RegistryClientError(
                "unsupported URL scheme %r in %s://%s"
                % (parts.scheme, parts.scheme, parts.netloc),
                OTHER,
            )
        with self._lock:
            self._connections.append(connection)
        return connection

    def _check_proxy(self, scheme: str, host: str, url: str) -> None:
        """Raise UNSUPPORTED when the environment sends ``url`` through a proxy.

        skopeo (Go) uses HTTPS_PROXY and HTTP_PROXY except for loopback hosts
        and NO_PROXY entries. This client does not connect through proxies.
        """
        proxy = self.environ.get("%s_proxy" % scheme) or self.environ.get(
            "%s_PROXY" % scheme.upper()
        )
        if not proxy or host == "localhost" or _is_loopback(host):
            return
        no_proxy = self.environ.get("no_proxy") or self.environ.get("NO_PROXY") or ""
        for entry in (item.strip() for item in no_proxy.split(",")):
            if entry == "*" or (
                entry
                and (
                    host == entry.lstrip(".") or host.endswith("." + entry.lstrip("."))
                )
            ):
                return
        raise RegistryClientError(
            "%s goes through the proxy in %s_PROXY" % (url, scheme.upper()), UNSUPPORTED
        )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_media_type(response: Response, reference: str) -> None:
    media_type = response.headers.get("Content-Type", "").partition(";")[0].strip()
    if media_type not in HASHED_MEDIA_TYPES:
        raise RegistryClientError(
            "the manifest of %s has media type %r, which this client does not read"
            % (reference, media_type),
            UNSUPPORTED,
        )


def _parse_token(body: bytes, realm: str) -> Tuple[str, float]:
    try:
        document = json.loads(body)
    except ValueError:
        raise RegistryClientError(
            "the token response of %s is not JSON" % realm, OTHER
        ) from None
    token = ""
    if isinstance(document, dict):
        token = document.get("token") or document.get("access_token") or ""
    if not isinstance(token, str) or not token:
        raise RegistryClientError(
            "the token response of %s has no token" % realm, OTHER
        )
    seconds = document.get("expires_in")
    if not isinstance(seconds, (int, float)) or seconds < MIN_TOKEN_SECONDS:
        seconds = MIN_TOKEN_SECONDS
    return token, float(seconds)


# Manifest checks with skopeo as the fallback


class ManifestInspector:
    """Inspect manifests over HTTP where that matches skopeo, and with skopeo otherwise.

    Offers ``inspect_raw`` and ``inspect_digest`` like the skopeo runner, so
    the mirror engine can use either. ``clients`` maps a side (SOURCE or
    DESTINATION) to its RegistryClient; a side without one uses skopeo.
    The HTTP result is used when it is a manifest, a digest or a 404.
    Every other outcome, including 401 and 403, is asked again with skopeo:
    skopeo may know credentials that the client does not, and its error then
    carries the command and message that the copy would show.
    """

    def __init__(
        self,
        skopeo: object,
        clients: Mapping[str, RegistryClient],
        registries_conf: Optional[RegistriesConf] = None,
    ) -> None:
        self.skopeo = skopeo
        self.clients = dict(clients)
        self.registries_conf = registries_conf or RegistriesConf()
        self._lock = threading.Lock()
        self.http_checks = 0
        self.skopeo_checks = 0
        self.fallback_reasons: Dict[str, int] = {}

    def inspect_raw(self, reference: str, side: str = SOURCE) -> Optional[bytes]:
        """Return the raw manifest of ``reference`` on ``side``, or None."""
        client = self._client(reference, side)
        if client is not None:
            try:
                raw = client.get_manifest(reference)
            except RegistryClientError as exc:
                self._count_fallback(reference, exc)
            else:
                self._count_http()
                return raw
        return self.skopeo.inspect_raw(reference, side)

    def inspect_digest(self, reference: str, side: str = SOURCE) -> Optional[str]:
        """Return the manifest digest of ``reference`` on ``side``, or None."""
        client = self._client(reference, side)
        if client is not None:
            try:
                digest = client.manifest_digest(reference)
            except RegistryClientError as exc:
                self._count_fallback(reference, exc)
            else:
                self._count_http()
                return digest
        return self.skopeo.inspect_digest(reference, side)

    def summary(self) -> str:
        """Return a line with the number of checks per path and why skopeo ran."""
        with self._lock:
            reasons = sorted(self.fallback_reasons.items(), key=lambda item: -item[1])
            line = "manifest checks: %d over the registry API, %d with skopeo" % (
                self.http_checks,
                self.skopeo_checks,
            )
        if reasons:
            shown = "; ".join("%s (%d)" % item for item in reasons[:3])
            more = len(reasons) - 3
            line += " because of: %s%s" % (shown, "; ..." if more > 0 else "")
        return line

    def as_dict(self) -> dict:
        """Return the check counts per path and the reasons for using skopeo."""
        with self._lock:
            return {
                "registry_api": self.http_checks,
                "skopeo": self.skopeo_checks,
                "skopeo_reasons": dict(self.fallback_reasons),
            }

    def close(self) -> None:
        """Close the connections of every client."""
        for client in self.clients.values():
            client.close()

    def _client(self, reference: str, side: str) -> Optional[RegistryClient]:
        client = self.clients.get(side)
        if client is None:
            self._count_skopeo(None)
            return None
        try:
            registry = parse_image_reference(reference).registry
        except ImageReferenceError:
            self._count_skopeo("invalid reference")
            return None
        if self.registries_conf.configures(registry):
            reason = (
                self.registries_conf.reason or "registries.conf configures " + registry
            )
            self._count_skopeo(reason)
            return None
        return client

    def _count_http(self) -> None:
        with self._lock:
            self.http_checks += 1

    def _count_skopeo(self, reason: Optional[str]) -> None:
        with self._lock:
            self.skopeo_checks += 1
            if reason:
                self.fallback_reasons[reason] = self.fallback_reasons.get(reason, 0) + 1

    def _count_fallback(self, reference: str, exc: RegistryClientError) -> None:
        registry = parse_image_reference(reference).registry
        reason = "%s at %s" % (exc.kind, registry)
        if exc.status is not None:
            reason += " (HTTP %d)" % exc.status
        self._count_skopeo(reason)


__all__ = [
    "ManifestInspector",
    "RegistryClient",
    "RegistryClientError",
    "UNSUPPORTED",
    "manifest_target",
    "parse_challenges",
    "registry_api_host",
]
