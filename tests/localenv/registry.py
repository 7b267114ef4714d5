# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Start Debian's distribution registry (``docker-registry`` 2.8) on loopback.

Each registry is a plain child process on 127.0.0.1 with a free port,
filesystem storage in its own directory and deletes enabled. Variants: plain
HTTP, HTTP basic auth from a bcrypt htpasswd file, and TLS with a throwaway
CA whose certificate is written as ``<cert_dir>/ca.crt``, the layout that
skopeo's ``--cert-dir`` reads.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Optional

LOG = logging.getLogger(__name__)

REGISTRY_BINARY = "docker-registry"
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class RegistryError(RuntimeError):
    """A registry that failed to start or a tool that it needs that is missing."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Another process can take the port before the registry binds it. The
    start is then reported as failed, with the registry's log.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise RegistryError(
            "%s was not found on PATH. Install the Debian package %s "
            "(apt-get install %s)." % (binary, package, package)
        )
    return path


def _run(argv: list, cwd: Optional[str] = None) -> str:
    completed = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    if completed.returncode != 0:
        raise RegistryError(
            "%s failed (rc=%d): %s"
            % (
                os.path.basename(argv[0]),
                completed.returncode,
                completed.stderr.strip(),
            )
        )
    return completed.stdout


def write_htpasswd(path: str, username: str, password: str) -> None:
    """Write a bcrypt htpasswd file, the only hash distribution's htpasswd auth accepts."""
    htpasswd = _require("htpasswd", "apache2-utils")
    line = _run([htpasswd, "-Bbn", username, password]).strip()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(line + "\n")


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1."""

    cert_dir: str
    ca_cert: str
    server_cert: str
    server_key: str


def make_tls_files(directory: str, common_name: str = "pko-airgap test") -> TlsFiles:
    """Create a CA and a server certificate for IP 127.0.0.1 with openssl.

    ``<directory>/certs/ca.crt`` is the CA for skopeo's ``--cert-dir``. The
    server files stay outside that directory because skopeo would read a
    ``*.cert``/``*.key`` pair there as a client certificate.
    """
    openssl = _require("openssl", "openssl")
    cert_dir = os.path.join(directory, "certs")
    server_dir = os.path.join(directory, "server")
    os.makedirs(cert_dir, exist_ok=True)
    os.makedirs(server_dir, exist_ok=True)
    ca_key = os.path.join(server_dir, "ca.key")
    ca_cert = os.path.join(cert_dir, "ca.crt")
    server_key = os.path.join(server_dir, "server.key.pem")
    server_csr = os.path.join(server_dir, "server.csr.pem")
    server_cert = os.path.join(server_dir, "server.crt.pem")
    extensions = os.path.join(server_dir, "server.ext")

    # Python 3.13 verifies with VERIFY_X509_STRICT, which rejects a CA
    # certificate without the keyUsage extension that RFC 5280 requires.
    _run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
         "-days", "7", "-subj", "/CN=%s CA" % common_name,
         "-addext", "basicConstraints = critical, CA:TRUE",
         "-addext", "keyUsage = critical, keyCertSign, cRLSign",
         "-keyout", ca_key, "-out", ca_cert]
    )  # fmt: skip

    _run(
        [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-sha256",
         "-subj", "/CN=%s" % LOOPBACK, "-keyout", server_key, "-out", server_csr]
    )  # fmt: skip

    # Go's TLS stack, used by both skopeo and the registry, checks only
    # subjectAltName, so the IP must be there and not only in the CN.
    with open(extensions, "w", encoding="utf-8") as handle:
        handle.write(
            "subjectAltName = IP:%s, DNS:localhost\n"
            "basicConstraints = CA:FALSE\n"
            "keyUsage = digitalSignature, keyEncipherment\n"
            "extendedKeyUsage = serverAuth\n" % LOOPBACK
        )
    _run(
        [openssl, "x509", "-req", "-sha256", "-days", "7", "-in", server_csr,
         "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
         "-extfile", extensions, "-out", server_cert]
    )  # fmt: skip
    return TlsFiles(cert_dir, ca_cert, server_cert, server_key)


@dataclass
class Registry:
    """A running registry process and what a client needs to reach it.

    ``address`` is ``127.0.0.1:PORT``. ``username``/``password`` are set for a
    basic-auth registry and ``cert_dir`` (a directory holding ``ca.crt``) for a
    TLS registry.
    """

    name: str
    port: int
    directory: str
    storage_dir: str
    config_path: str
    log_path: str
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    tls: Optional[TlsFiles] = None
    process: Optional[subprocess.Popen] = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def url(self) -> str:
        return "%s://%s" % ("https" if self.tls else "http", self.address)

    @property
    def cert_dir(self) -> Optional[str]:
        return self.tls.cert_dir if self.tls else None

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, ready_timeout: float = READY_TIMEOUT) -> "Registry":
        """Start the process on this registry's port and wait until ``/v2/`` responds."""
        if self.running:
            return self
        binary = _require(REGISTRY_BINARY, "docker-registry")
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [binary, "serve", self.config_path],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        LOG.info("started registry %s at %s (pid %d)", self.name, self.url, self.pid)
        try:
            self.wait_ready(ready_timeout)
        except RegistryError:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll ``/v2/`` until it returns 200, or 401 on an auth registry."""
        context = None
        if self.tls:
            context = ssl.create_default_context(cafile=self.tls.ca_cert)
        deadline = time.monotonic() + timeout
        last_error = "no response"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RegistryError(
                    "registry %s exited with rc=%d while starting. Its log %s ends "
                    "with: %s"
                    % (
                        self.name,
                        self.process.returncode,
                        self.log_path,
                        self.log_tail(),
                    )
                )
            try:
                with urllib.request.urlopen(
                    self.url + "/v2/", timeout=2, context=context
                ) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and self.username:
                    return
                last_error = "HTTP %d" % exc.code
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise RegistryError(
            "registry %s at %s did not respond on /v2/ within %g s (last error: %s). "
            "Its log %s ends with: %s"
            % (self.name, self.url, timeout, last_error, self.log_path, self.log_tail())
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop this registry's own process by pid; SIGKILL it after ``timeout`` s."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                LOG.warning("registry %s (pid %d) ignored SIGTERM; killing it",
                            self.name, process.pid)  # fmt: skip
                process.kill()
                process.wait(timeout)
        LOG.info("stopped registry %s (pid %d)", self.name, process.pid)

    def kill(self) -> None:
        """Kill the process at once, the way a crashed registry disappears."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.kill()
        process.wait(STOP_TIMEOUT)
        LOG.info("killed registry %s (pid %d)", self.name, process.pid)

    def restart(self, ready_timeout: float = READY_TIMEOUT) -> "Registry":
        """Stop and start again on the same port and storage."""
        self.stop()
        return self.start(ready_timeout)

    def log_tail(self, lines: int = 5) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return " | ".join(handle.read().strip().splitlines()[-lines:])
        except OSError as exc:
            return "(log unreadable: %s)" % exc

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _config_text(registry: Registry, htpasswd_path: Optional[str]) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  accesslog:",
        "    disabled: false",
        "storage:",
        "  filesystem:",
        "    rootdirectory: %s" % registry.storage_dir,
        "  delete:",
        "    enabled: true",
        "http:",
        "  addr: %s" % registry.address,
        # A random secret per registry; distribution warns and picks one anyway.
        "  secret: %s" % secrets.token_hex(16),
    ]
    if registry.tls:
        lines += [
            "  tls:",
            "    certificate: %s" % registry.tls.server_cert,
            "    key: %s" % registry.tls.server_key,
        ]
    if htpasswd_path:
        lines += [
            "auth:",
            "  htpasswd:",
            "    realm: %s" % registry.name,
            "    path: %s" % htpasswd_path,
        ]
    return "\n".join(lines) + "\n"


def start_registry(
    directory: str,
    name: str = "registry",
    username: Optional[str] = None,
    password: Optional[str] = None,
    tls: bool = False,
    port: Optional[int] = None,
    ready_timeout: float = READY_TIMEOUT,
) -> Registry:
    """Start a registry with storage, config and log under ``directory/name``.

    Give ``username`` (and optionally ``password``; a random one is made
    otherwise) for basic auth, and ``tls=True`` for HTTPS with a new CA. The
    port is free at call time unless given.
    """
    base = os.path.abspath(os.path.join(directory, name))
    os.makedirs(base, exist_ok=True)
    if username and not password:
        password = secrets.token_urlsafe(12)
    registry = Registry(
        name=name,
        port=port or free_port(),
        directory=base,
        storage_dir=os.path.join(base, "storage"),
        config_path=os.path.join(base, "config.yml"),
        log_path=os.path.join(base, "registry.log"),
        username=username,
        password=password,
    )
    os.makedirs(registry.storage_dir, exist_ok=True)

    if tls:
        registry.tls = make_tls_files(os.path.join(base, "pki"))
    htpasswd_path = None
    if username:
        htpasswd_path = os.path.join(base, "htpasswd")
        write_htpasswd(htpasswd_path, username, password)

    with open(registry.config_path, "w", encoding="utf-8") as handle:
        handle.write(_config_text(registry, htpasswd_path))
    return registry.start(ready_timeout)
