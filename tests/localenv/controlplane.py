# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A real Kubernetes control plane for tests: etcd and kube-apiserver.

It works like controller-runtime's envtest. etcd and kube-apiserver run as
plain processes on free 127.0.0.1 ports, with a throwaway CA, a serving
certificate, an admin client certificate in group ``system:masters`` and a
service-account key pair. No kubelet, scheduler or controller-manager runs,
so no pod starts, Job and Deployment status stays empty unless a test
controller writes it, and deleted namespaces stay ``Terminating``.

The binaries come from ``hack/build-controlplane.sh``, which builds them into
``<cache>/controlplane/<k8s version>/bin/``. ``PKO_AIRGAP_CONTROLPLANE_BIN``
names another directory that contains ``etcd`` and ``kube-apiserver``.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import datetime
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Dict, List, Optional

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOG = logging.getLogger(__name__)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(REPO_ROOT, "hack", "build-controlplane.sh")
APISERVER_GO_MOD = os.path.join(
    REPO_ROOT, "tests", "localenv", "controlplane", "kube-apiserver", "go.mod"
)
BIN_DIR_ENV = "PKO_AIRGAP_CONTROLPLANE_BIN"

ADMIN_USER = "pko-airgap-admin"
ADMIN_GROUP = "system:masters"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
# The issuer is only a name in the tokens that the API server signs. Nothing
# connects to it.
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"

STOP_TIMEOUT_SECONDS = 20.0
# free_port() cannot reserve a port, so another process may take it before
# etcd or kube-apiserver binds it. Start-up then retries with new ports.
PORT_ATTEMPTS = 3
LOG_TAIL_LINES = 25
PR_SET_PDEATHSIG = 1


class ControlPlaneError(RuntimeError):
    """A control plane that could not be built, found, started or stopped."""


def pinned_kubernetes_version() -> str:
    """Return the k8s.io/kubernetes version pinned for the build, e.g. v1.37.2."""
    with open(APISERVER_GO_MOD, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "k8s.io/kubernetes":
                return fields[1]
    raise ControlPlaneError("no k8s.io/kubernetes requirement in %s" % APISERVER_GO_MOD)


def default_bin_dir() -> str:
    """Return the directory that hack/build-controlplane.sh builds into."""
    cache = os.environ.get("PKO_AIRGAP_CACHE")
    if not cache:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache"
        )
        cache = os.path.join(xdg, "pko-airgap")
    return os.path.join(cache, "controlplane", pinned_kubernetes_version(), "bin")


def find_binaries(bin_dir: Optional[str] = None) -> Dict[str, str]:
    """Return the paths of ``etcd`` and ``kube-apiserver``.

    The directory is ``bin_dir``, else ``$PKO_AIRGAP_CONTROLPLANE_BIN``, else
    the build cache. Raises ControlPlaneError naming the build script when a
    binary is missing.
    """
    directory = bin_dir or os.environ.get(BIN_DIR_ENV) or default_bin_dir()
    binaries = {}
    for name in ("etcd", "kube-apiserver"):
        path = os.path.join(directory, name)
        if not os.access(path, os.X_OK):
            raise ControlPlaneError(
                "%s not found or not executable at %s. Build the control plane "
                "with %s (10-15 minutes the first time), or set %s to a directory "
                "that holds etcd and kube-apiserver."
                % (name, path, BUILD_SCRIPT, BIN_DIR_ENV)
            )
        binaries[name] = path
    return binaries


def build_binaries() -> str:
    """Run hack/build-controlplane.sh and return the bin directory it prints.

    The script returns within a second when the cached binaries are current.
    """
    result = subprocess.run(
        [BUILD_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ControlPlaneError(
            "%s failed with exit code %d:\n%s"
            % (BUILD_SCRIPT, result.returncode, result.stderr.strip())
        )
    return result.stdout.strip().splitlines()[-1]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_rss_bytes(pid: int) -> int:
    """Return the resident set size of a process, read from /proc."""
    with open("/proc/%d/status" % pid, encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise ControlPlaneError("process %d has no VmRSS in /proc/%d/status" % (pid, pid))


def parent_death_signal(signal_number: int = signal.SIGKILL):
    """Return a preexec_fn that makes a child get a signal when its parent dies.

    The default is SIGKILL because kube-apiserver's graceful shutdown after
    SIGTERM took from 10 s to more than 30 s on a 2-core machine when etcd
    went away at the same time.
    Linux only. The kernel sends the signal when the thread that forked the
    child exits, so start processes from the main thread, where pytest
    fixtures run.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    # prctl is variadic. Without argtypes ctypes passes 32-bit ints, and the
    # kernel reads whole 64-bit registers, so the call failed now and then.
    prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    prctl.restype = ctypes.c_int

    def set_death_signal():
        if prctl(PR_SET_PDEATHSIG, int(signal_number), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")

    return set_death_signal


def _log_tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError as error:
        return "(cannot read %s: %s)" % (path, error)


def _stop_process(process: subprocess.Popen, name: str) -> None:
    if process.poll() is not None:
        return

    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
        return
    except subprocess.TimeoutExpired:
        LOG.warning(
            "%s (pid %d) still runs %.0f s after SIGTERM; sending SIGKILL",
            name,
            process.pid,
            STOP_TIMEOUT_SECONDS,
        )

    process.kill()
    process.wait()


class _Certificates:
    """CA, serving, client and service-account keys written as PEM files."""

    def __init__(self, directory: str, service_ip: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.ca_cert = os.path.join(directory, "ca.crt")
        self.serving_cert = os.path.join(directory, "apiserver.crt")
        self.serving_key = os.path.join(directory, "apiserver.key")
        self.client_cert = os.path.join(directory, "admin.crt")
        self.client_key = os.path.join(directory, "admin.key")
        self.service_account_public_key = os.path.join(directory, "sa.pub")
        self.service_account_private_key = os.path.join(directory, "sa.key")
        self._service_ip = service_ip

    def generate(self) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, "pko-airgap-test-ca")]
        )
        ca = self._builder(ca_name, ca_name, ca_key.public_key())
        ca = ca.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
        ca = ca.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        ca_cert = ca.sign(ca_key, hashes.SHA256())
        self._write(self.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))

        serving_names = [
            x509.DNSName(name)
            for name in (
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            )
        ]
        serving_names += [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address(self._service_ip)),
        ]
        self._leaf(
            ca_cert,
            ca_key,
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
            ExtendedKeyUsageOID.SERVER_AUTH,
            self.serving_cert,
            self.serving_key,
            x509.SubjectAlternativeName(serving_names),
        )
        self._leaf(
            ca_cert,
            ca_key,
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ADMIN_GROUP),
                    x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_USER),
                ]
            ),
            ExtendedKeyUsageOID.CLIENT_AUTH,
            self.client_cert,
            self.client_key,
        )

        service_account_key = ec.generate_private_key(ec.SECP256R1())
        self._write_key(self.service_account_private_key, service_account_key)
        self._write(
            self.service_account_public_key,
            service_account_key.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            ),
        )

    @staticmethod
    def _builder(subject, issuer, public_key) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=7))
        )

    def _leaf(self, ca_cert, ca_key, subject, usage, cert_path, key_path, names=None):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._builder(subject, ca_cert.subject, key.public_key())
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if names is not None:
            builder = builder.add_extension(names, critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        self._write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        self._write_key(key_path, key)

    def _write_key(self, path: str, key) -> None:
        self._write(
            path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )

    @staticmethod
    def _write(path: str, data: bytes) -> None:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)


_RUNNING: List["ControlPlane"] = []


def _stop_all_at_exit() -> None:
    for control_plane in list(_RUNNING):
        control_plane.stop()


atexit.register(_stop_all_at_exit)


class ControlPlane:
    """etcd and kube-apiserver on free 127.0.0.1 ports, files under ``workdir``.

    ``start()`` returns once ``/readyz`` returns 200 and the kubeconfig is
    written. ``stop()`` ends both processes by pid, also after a failed
    start, and is safe to call twice. Several instances may run at once with
    different names or work directories.

    With ``tie_to_parent=True`` (the default) the processes also get SIGKILL
    when the Python process that started them dies. Pass False for a control
    plane that must outlive its starter; stop it later with
    :func:`stop_from_state`.
    """

    def __init__(
        self,
        workdir: str,
        name: str = "controlplane",
        bin_dir: Optional[str] = None,
        start_timeout: float = 120.0,
        service_cluster_ip_range: str = SERVICE_CLUSTER_IP_RANGE,
        tie_to_parent: bool = True,
        extra_apiserver_args: Optional[List[str]] = None,
    ) -> None:
        self.name = name
        self.directory = os.path.abspath(os.path.join(workdir, name))
        self.bin_dir = bin_dir
        self.start_timeout = start_timeout
        self.service_cluster_ip_range = service_cluster_ip_range
        self.tie_to_parent = tie_to_parent
        self.extra_apiserver_args = list(extra_apiserver_args or [])

        self.etcd_url: Optional[str] = None
        self.server: Optional[str] = None
        self.startup_seconds: Optional[float] = None
        self._kubeconfig: Optional[str] = None
        self._etcd: Optional[subprocess.Popen] = None
        self._apiserver: Optional[subprocess.Popen] = None
        self._binaries: Dict[str, str] = {}
        self._certificates: Optional[_Certificates] = None
        self._ssl_context: Optional[ssl.SSLContext] = None

    def __enter__(self) -> "ControlPlane":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        return "ControlPlane(name=%r, server=%r)" % (self.name, self.server)

    @property
    def kubeconfig(self) -> str:
        """Path of the kubeconfig for the admin user, once started."""
        if self._kubeconfig is None:
            raise ControlPlaneError("control plane %r is not started" % self.name)
        return self._kubeconfig

    @property
    def pids(self) -> Dict[str, int]:
        """Process ids of the running etcd and kube-apiserver."""
        found = {}
        # kube-apiserver comes first because it must stop before etcd.
        for name, process in (
            ("kube-apiserver", self._apiserver),
            ("etcd", self._etcd),
        ):
            if process is not None and process.poll() is None:
                found[name] = process.pid
        return found

    def rss_bytes(self) -> int:
        """Return the summed resident set size of etcd and kube-apiserver."""
        return sum(process_rss_bytes(pid) for pid in self.pids.values())

    def start(self) -> "ControlPlane":
        """Start etcd, then kube-apiserver, and write the kubeconfig."""
        if self.pids:
            raise ControlPlaneError("control plane %r is already running" % self.name)

        started = time.monotonic()
        self._binaries = find_binaries(self.bin_dir)
        os.makedirs(self.directory, exist_ok=True)
        service_ip = str(
            next(ipaddress.ip_network(self.service_cluster_ip_range).hosts())
        )
        self._certificates = _Certificates(
            os.path.join(self.directory, "pki"), service_ip
        )
        self._certificates.generate()

        # Only tied control planes stop at interpreter exit, because an untied
        # one is meant to outlive this process.
        if self.tie_to_parent:
            _RUNNING.append(self)
        try:
            self._retry_on_port_conflict("etcd", self._start_etcd)
            self._retry_on_port_conflict("kube-apiserver", self._start_apiserver)
            self._write_kubeconfig()
        except BaseException:
            self.stop()
            raise

        self.startup_seconds = time.monotonic() - started
        LOG.info(
            "control plane %s ready at %s in %.1f s (etcd pid %d, kube-apiserver pid %d)",
            self.name,
            self.server,
            self.startup_seconds,
            self._etcd.pid,
            self._apiserver.pid,
        )
        return self

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd, and remove the etcd data."""
        for name, process in (
            ("kube-apiserver", self._apiserver),
            ("etcd", self._etcd),
        ):
            if process is not None:
                _stop_process(process, "%s of control plane %s" % (name, self.name))
        if self._etcd is not None or self._apiserver is not None:
            LOG.info("control plane %s stopped", self.name)
        self._apiserver = None
        self._etcd = None
        if self in _RUNNING:
            _RUNNING.remove(self)
        shutil.rmtree(os.path.join(self.directory, "etcd-data"), ignore_errors=True)

    def state(self) -> dict:
        """Return what another process needs to use or stop this control plane."""
        return {
            "name": self.name,
            "directory": self.directory,
            "server": self.server,
            "kubeconfig": self.kubeconfig,
            "processes": [
                {"name": name, "pid": pid, "executable": self._binaries[name]}
                for name, pid in self.pids.items()
            ],
        }

    def _retry_on_port_conflict(self, name: str, start) -> None:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                start()
                return
            except ControlPlaneError as error:
                if (
                    "address already in use" not in str(error)
                    or attempt == PORT_ATTEMPTS
                ):
                    raise
                LOG.warning(
                    "%s of control plane %s found its port taken; retrying with new "
                    "ports (attempt %d of %d)",
                    name,
                    self.name,
                    attempt + 1,
                    PORT_ATTEMPTS,
                )

    def _spawn(self, name: str, args: List[str]) -> subprocess.Popen:
        log_path = os.path.join(self.directory, "%s.log" % name)
        with open(log_path, "ab") as log_file:
            return subprocess.Popen(
                [self._binaries[name]] + args,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
                preexec_fn=parent_death_signal() if self.tie_to_parent else None,
            )

    def _wait_until_ready(self, name, process, probe) -> None:
        deadline = time.monotonic() + self.start_timeout
        log_path = os.path.join(self.directory, "%s.log" % name)
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ControlPlaneError(
                    "%s of control plane %s exited with code %d during start-up. "
                    "Last lines of %s:\n%s"
                    % (
                        name,
                        self.name,
                        process.returncode,
                        log_path,
                        _log_tail(log_path),
                    )
                )
            ready, last_error = probe()
            if ready:
                return
            time.sleep(0.1)
        raise ControlPlaneError(
            "%s of control plane %s not ready after %.0f s (%s). Last lines of %s:\n%s"
            % (
                name,
                self.name,
                self.start_timeout,
                last_error,
                log_path,
                _log_tail(log_path),
            )
        )

    def _start_etcd(self) -> None:
        client_port, peer_port = free_port(), free_port()
        self.etcd_url = "http://127.0.0.1:%d" % client_port
        peer_url = "http://127.0.0.1:%d" % peer_port
        self._etcd = self._spawn(
            "etcd",
            [
                "--name=%s" % self.name,
                "--data-dir=%s" % os.path.join(self.directory, "etcd-data"),
                "--listen-client-urls=%s" % self.etcd_url,
                "--advertise-client-urls=%s" % self.etcd_url,
                "--listen-peer-urls=%s" % peer_url,
                "--initial-advertise-peer-urls=%s" % peer_url,
                "--initial-cluster=%s=%s" % (self.name, peer_url),
                # The data is thrown away after the test, so skip fsync.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait_until_ready("etcd", self._etcd, self._probe_etcd)

    def _probe_etcd(self):
        try:
            with urllib.request.urlopen(
                self.etcd_url + "/health", timeout=2
            ) as response:
                body = json.loads(response.read().decode("utf-8"))
        except (OSError, ValueError) as error:
            return False, str(error)
        return body.get("health") == "true", "health %r" % body

    def _start_apiserver(self) -> None:
        certificates = self._certificates
        port = free_port()
        self.server = "https://127.0.0.1:%d" % port
        self._apiserver = self._spawn(
            "kube-apiserver",
            [
                "--etcd-servers=%s" % self.etcd_url,
                "--bind-address=127.0.0.1",
                # Without it, kube-apiserver looks up the default route's address.
                "--advertise-address=127.0.0.1",
                # The endpoint reconciler rejects a loopback address for the
                # kubernetes Service, and nothing here routes to Services.
                "--endpoint-reconciler-type=none",
                "--secure-port=%d" % port,
                "--tls-cert-file=%s" % certificates.serving_cert,
                "--tls-private-key-file=%s" % certificates.serving_key,
                "--client-ca-file=%s" % certificates.ca_cert,
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                # No controller creates a namespace's default ServiceAccount, and
                # this admission plugin rejects Pods whose ServiceAccount is missing.
                "--disable-admission-plugins=ServiceAccount",
                "--service-cluster-ip-range=%s" % self.service_cluster_ip_range,
                "--service-account-issuer=%s" % SERVICE_ACCOUNT_ISSUER,
                "--service-account-key-file=%s"
                % certificates.service_account_public_key,
                "--service-account-signing-key-file=%s"
                % certificates.service_account_private_key,
            ]
            + self.extra_apiserver_args,
        )
        self._ssl_context = ssl.create_default_context(cafile=certificates.ca_cert)
        self._ssl_context.load_cert_chain(
            certificates.client_cert, certificates.client_key
        )
        self._wait_until_ready("kube-apiserver", self._apiserver, self._probe_apiserver)

    def _probe_apiserver(self):
        request = urllib.request.Request(self.server + "/readyz")
        try:
            with urllib.request.urlopen(
                request, timeout=5, context=self._ssl_context
            ) as response:
                return response.status == 200, "readyz %d" % response.status
        except urllib.error.HTTPError as error:
            return False, "readyz %d" % error.code
        except OSError as error:
            return False, str(error)

    def _write_kubeconfig(self) -> None:
        certificates = self._certificates

        def read(path: str) -> str:
            with open(path, "rb") as handle:
                return base64.b64encode(handle.read()).decode("ascii")

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": self.name,
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": read(certificates.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": ADMIN_USER,
                    "user": {
                        "client-certificate-data": read(certificates.client_cert),
                        "client-key-data": read(certificates.client_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": self.name,
                    "context": {"cluster": self.name, "user": ADMIN_USER},
                }
            ],
            "current-context": self.name,
        }
        path = os.path.join(self.directory, "kubeconfig")
        temporary = path + ".tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle, default_flow_style=False)
        os.replace(temporary, path)
        self._kubeconfig = path


def _is_process_of(pid: int, executable: str) -> bool:
    try:
        return os.path.realpath("/proc/%d/exe" % pid) == os.path.realpath(executable)
    except OSError:
        return False


def stop_from_state(state: dict, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """Stop a control plane that another process started, from its ``state()``.

    A pid is signalled only while it still runs the recorded executable, so
    a pid that the system has given to another process is left alone.
    """
    for entry in state.get("processes", []):
        pid, executable = entry["pid"], entry["executable"]
        if not _is_process_of(pid, executable):
            continue

        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_process_of(pid, executable) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _is_process_of(pid, executable):
            LOG.warning(
                "%s (pid %d) still runs after SIGTERM; sending SIGKILL",
                entry["name"],
                pid,
            )
            os.kill(pid, signal.SIGKILL)

    shutil.rmtree(os.path.join(state["directory"], "etcd-data"), ignore_errors=True)
