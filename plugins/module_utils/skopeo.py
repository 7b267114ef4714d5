# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run skopeo with argument lists and turn its failures into typed errors.

One :class:`Skopeo` object finds the binary once and carries the registry
options of both sides of a copy: the source (``SOURCE``) and the destination
(``DESTINATION``). Every command is an argument list, never a shell string.
Credentials go to skopeo as ``--creds``/``--src-creds``/``--dest-creds`` and
are masked in every command, message and output that this module returns.

Behaviour described here was checked against skopeo 1.9.3 (Debian 12) and
Debian's distribution registry 2.8.2. This module has no Ansible import.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence

SOURCE = "source"
DESTINATION = "destination"
SIDES = (SOURCE, DESTINATION)

# Error kinds, from the end of skopeo's error chain.
NOT_FOUND = "not_found"
UNAUTHORIZED = "unauthorized"
TRANSIENT = "transient"
TLS = "tls"
EXECUTABLE = "executable"
OTHER = "other"

DEFAULT_TIMEOUT = 600.0
MASK = "********"

# skopeo prints errors as a chain "context: context: cause", and a registry
# error code appears as "<code>: <message>" after a ": " separator. Image
# names contain no whitespace, so matching multi-word phrases or a code that
# follows ": " does not mistake a repository called "denied" for a cause.
# The first matching kind wins: a 5xx or a timeout is transient even when the
# text also names an authentication step.
_CLASSIFIERS = (
    (
        TRANSIENT,
        re.compile(
            r"connection refused|connection reset|broken pipe|no route to host"
            r"|network is unreachable|i/o timeout|tls handshake timeout"
            r"|context deadline exceeded|timeout exceeded|timed out"
            r"|temporary failure in name resolution|server misbehaving"
            r"|too many requests|(?:^|: )toomanyrequests: |(?:^|: )(?:unexpected )?eof\b"
            r"|(?:status code from registry|http status:?) (?:5\d\d|429)\b"
            r"|(?:^|: )unavailable: "
        ),
    ),
    (
        UNAUTHORIZED,
        re.compile(
            r"(?:^|: )(?:unauthorized|denied|forbidden): |authentication required"
            r"|requested access to the resource is denied"
            r"|invalid username/password|incorrect username or password"
            r"|(?:status code from registry|http status:?) (?:401|403)\b"
        ),
    ),
    (
        NOT_FOUND,
        re.compile(
            r"(?:^|: )(?:manifest unknown|name unknown|blob unknown|not found)\b"
            r"|repository name not known to registry"
            r"|(?:status code from registry|http status:?) 404\b"
        ),
    ),
    (
        TLS,
        re.compile(
            r"x509: |(?:^|: )tls: |certificate signed by unknown authority"
            r"|server gave http response to https client"
        ),
    ),
)

_LOG_PREFIX_RE = re.compile(r'^time="[^"]*" level=\w+ msg="(.*)"$')

# Hints for errors of some kinds, appended to skopeo's own message.
# The runner serves both sides, so the hints name the option of either side.
_HINTS = {
    UNAUTHORIZED: (
        "Give credentials for this registry: authfile, or the username and "
        "password of that side (src_ or dest_)."
    ),
    TLS: (
        "Put the registry's CA certificate into that side's cert_dir, or turn "
        "that side's tls_verify off for a registry you trust."
    ),
}


def classify_error(text: str) -> str:
    """Return the error kind (``TRANSIENT``, ``NOT_FOUND``, ...) of skopeo's stderr."""
    lowered = text.lower()
    for kind, pattern in _CLASSIFIERS:
        if pattern.search(lowered):
            return kind
    return OTHER


def error_summary(stderr: str) -> str:
    """Return skopeo's last fatal message without the logrus prefix.

    skopeo 1.9 prints ``time="..." level=fatal msg="..."``; the message is the
    useful part. Other output is returned stripped.
    """
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    found = _LOG_PREFIX_RE.match(lines[-1])
    if found is None:
        return lines[-1]
    return found.group(1).replace('\\"', '"')


class SkopeoError(Exception):
    """A failed skopeo command, with the masked command and its output.

    ``kind`` is one of ``NOT_FOUND``, ``UNAUTHORIZED``, ``TRANSIENT``, ``TLS``,
    ``EXECUTABLE`` or ``OTHER``. ``cmd`` never contains a password.
    """

    def __init__(
        self,
        message: str,
        cmd: Optional[Sequence[str]] = None,
        rc: Optional[int] = None,
        stdout: str = "",
        stderr: str = "",
        kind: str = OTHER,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.cmd = list(cmd or [])
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.kind = kind

    @property
    def transient(self) -> bool:
        """True when a retry may succeed: connection errors, timeouts, 5xx, 429."""
        return self.kind == TRANSIENT

    def as_dict(self) -> dict:
        return {
            "msg": self.message,
            "cmd": self.cmd,
            "rc": self.rc,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "kind": self.kind,
        }


class SkopeoExecutableError(SkopeoError):
    """The skopeo binary is missing or not executable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind=EXECUTABLE)


@dataclass(frozen=True)
class RegistryOptions:
    """Connection settings for the registry on one side of a copy.

    ``tls_verify=True`` passes nothing, so skopeo verifies certificates and
    requires HTTPS. ``cert_dir`` is a directory with ``*.crt`` (CA) and
    optional ``*.cert``/``*.key`` (client) files.
    """

    tls_verify: bool = True
    cert_dir: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # skopeo prompts on the terminal for a password that --creds lacks, so
        # a half-given credential would hang or fail with an unrelated error.
        if bool(self.username) != bool(self.password):
            missing = "password" if self.username else "username"
            raise ValueError(
                "registry credentials need both a username and a password, but the "
                "%s is missing. Set both, or neither to use the auth file." % missing
            )
        if self.username and ":" in self.username:
            raise ValueError(
                "registry username %r contains ':', which skopeo's --creds "
                "USERNAME:PASSWORD cannot carry. Use an auth file instead."
                % self.username
            )


@dataclass(frozen=True)
class RunOutput:
    """Exit status and output of one process."""

    rc: int
    stdout: bytes
    stderr: str


Runner = Callable[[List[str], float, Optional[Mapping[str, str]]], RunOutput]


def run_process(
    argv: List[str], timeout: float, env: Optional[Mapping[str, str]]
) -> RunOutput:
    """Run ``argv`` without a shell or a terminal; raise TimeoutExpired after ``timeout`` s."""
    completed = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
        env=None if env is None else dict(env),
        check=False,
    )
    return RunOutput(
        completed.returncode,
        completed.stdout,
        completed.stderr.decode("utf-8", errors="replace"),
    )


@dataclass(frozen=True)
class CommandResult:
    """Output of a successful skopeo command, with the password masked in ``cmd``."""

    cmd: List[str]
    rc: int
    stdout: bytes
    stderr: str
    seconds: float


def manifest_digest(raw: bytes, algorithm: str = "sha256") -> str:
    """Return the digest of a manifest as a registry computes it: hash of the bytes."""
    if algorithm not in ("sha256", "sha384", "sha512"):
        raise ValueError(
            "unsupported digest algorithm %r. Use sha256, sha384 or sha512." % algorithm
        )
    return "%s:%s" % (algorithm, hashlib.new(algorithm, raw).hexdigest())


def _subcommand(argv: Sequence[str]) -> str:
    for arg in argv[1:]:
        if not arg.startswith("-"):
            return arg
    return "command"


def docker_transport(reference: str) -> str:
    """Return ``docker://reference`` for a registry reference."""
    return "docker://" + reference


class Skopeo:
    """A skopeo binary plus the registry options for both sides of a copy.

    ``executable`` is a path or a command name looked up on ``PATH``; it is
    resolved once, here. ``authfile`` is one containers-auth.json(5) file for
    both sides, ``registries_conf`` a containers-registries.conf(5) file, and
    ``tmpdir`` the directory for skopeo's large temporary files. ``timeout``
    (seconds) applies to each command. ``env`` replaces the environment of the
    child process when given. ``runner`` runs an argument list and exists so
    that tests can replace the process.
    """

    def __init__(
        self,
        executable: Optional[str] = None,
        source: Optional[RegistryOptions] = None,
        destination: Optional[RegistryOptions] = None,
        authfile: Optional[str] = None,
        registries_conf: Optional[str] = None,
        tmpdir: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT,
        env: Optional[Mapping[str, str]] = None,
        runner: Runner = run_process,
        which: Callable[[str], Optional[str]] = shutil.which,
    ) -> None:
        self.executable = self._find_executable(executable, which)
        self.options: Dict[str, RegistryOptions] = {
            SOURCE: source or RegistryOptions(),
            DESTINATION: destination or RegistryOptions(),
        }
        self.authfile = self._check_authfile(authfile)
        self.registries_conf = registries_conf
        self.tmpdir = tmpdir
        if timeout <= 0:
            raise ValueError(
                "skopeo timeout must be positive, got %r seconds" % timeout
            )
        self.timeout = timeout
        self.env = env
        self._runner = runner
        self._secrets = [
            options.password for options in self.options.values() if options.password
        ]

    @staticmethod
    def _check_authfile(authfile: Optional[str]) -> Optional[str]:
        # skopeo reads no credentials from a missing authfile, so each registry
        # that needs them fails as unauthorized, which hides the cause.
        if authfile and not os.path.isfile(authfile):
            raise SkopeoError(
                "authfile %r is not a file. Give the path of a containers-auth.json "
                "file, such as the one that 'skopeo login' writes, or leave authfile "
                "unset to use skopeo's default." % authfile
            )
        return authfile

    @staticmethod
    def _find_executable(
        executable: Optional[str], which: Callable[[str], Optional[str]]
    ) -> str:
        name = executable or "skopeo"
        if os.sep in name:
            if os.path.isfile(name) and os.access(name, os.X_OK):
                return name
            raise SkopeoExecutableError(
                "skopeo executable %r does not exist or is not executable. Install "
                "skopeo, or set executable to the path of the skopeo binary." % name
            )
        found = which(name)
        if found is None:
            raise SkopeoExecutableError(
                "skopeo executable %r was not found on PATH (%s). Install skopeo "
                "(Debian/Ubuntu: apt-get install skopeo), or set executable to the "
                "path of the skopeo binary." % (name, os.environ.get("PATH", ""))
            )
        return found

    # Argument lists

    def global_args(self) -> List[str]:
        """Return the options that go before the subcommand."""
        args = [self.executable]
        if self.registries_conf:
            # A hidden global flag in skopeo 1.9, equivalent to CONTAINERS_REGISTRIES_CONF.
            args.append("--registries-conf=" + self.registries_conf)
        if self.tmpdir:
            args.append("--tmpdir=" + self.tmpdir)
        return args

    def side_args(self, side: str, prefix: str) -> List[str]:
        """Return TLS and credential options for ``side``, flags named with ``prefix``.

        ``prefix`` is "" for inspect, and "src-" or "dest-" for copy."""
        options = self._options(side)
        args = []
        if not options.tls_verify:
            args.append("--%stls-verify=false" % prefix)
        if options.cert_dir:
            args.append("--%scert-dir=%s" % (prefix, options.cert_dir))
        if options.username:
            # NOTE: argv is readable by other local users through /proc while
            # skopeo runs; use an auth file where that matters.
            args.append(
                "--%screds=%s:%s" % (prefix, options.username, options.password)
            )
        return args

    def authfile_args(self) -> List[str]:
        return ["--authfile=" + self.authfile] if self.authfile else []

    def inspect_raw_args(self, reference: str, side: str = SOURCE) -> List[str]:
        return (
            self.global_args()
            + ["inspect", "--raw"]
            + self.side_args(side, "")
            + self.authfile_args()
            + [docker_transport(reference)]
        )

    def copy_args(
        self,
        source: str,
        destination: str,
        all_images: bool = True,
        preserve_digests: bool = True,
        extra: Sequence[str] = (),
    ) -> List[str]:
        """Return the argument list of ``skopeo copy``; transports are included."""
        args = self.global_args() + ["copy", "--quiet"]
        if all_images:
            args.append("--all")
        if preserve_digests:
            args.append("--preserve-digests")
        args += self.side_args(SOURCE, "src-") + self.side_args(DESTINATION, "dest-")
        args += self.authfile_args() + list(extra) + [source, destination]
        return args

    # Running

    def mask(self, text: str) -> str:
        """Replace every password of this runner in ``text`` with a mask."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def masked_command(self, argv: Sequence[str]) -> List[str]:
        return [self.mask(arg) for arg in argv]

    def run(self, argv: List[str], references: Sequence[str] = ()) -> CommandResult:
        """Run ``argv`` and raise SkopeoError with a classified ``kind`` on failure.

        ``references`` are the images involved, named in the error message.
        """
        cmd = self.masked_command(argv)
        started = time.monotonic()
        try:
            output = self._runner(argv, self.timeout, self.env)
        except subprocess.TimeoutExpired:
            raise SkopeoError(
                "skopeo timed out after %g seconds on %s. Check that the registry "
                "is reachable, or raise the timeout."
                % (self.timeout, " -> ".join(references) or "the command"),
                cmd=cmd,
                kind=TRANSIENT,
            ) from None
        except OSError as exc:
            raise SkopeoExecutableError(
                "failed to run skopeo executable %r: %s. Install skopeo, or set "
                "executable to the path of the skopeo binary."
                % (self.executable, exc.strerror or exc)
            ) from None
        seconds = time.monotonic() - started

        stdout_text = output.stdout.decode("utf-8", errors="replace")
        if output.rc != 0:
            stderr = self.mask(output.stderr)
            summary = error_summary(stderr) or "no error output"
            kind = classify_error(stderr)
            message = "skopeo %s failed (rc=%d): %s" % (
                _subcommand(argv),
                output.rc,
                summary,
            )
            if kind in _HINTS:
                message += ". " + _HINTS[kind]
            raise SkopeoError(
                message,
                cmd=cmd,
                rc=output.rc,
                stdout=self.mask(stdout_text),
                stderr=stderr,
                kind=kind,
            )
        return CommandResult(
            cmd, output.rc, output.stdout, self.mask(output.stderr), seconds
        )

    # Operations

    def inspect_raw(self, reference: str, side: str = SOURCE) -> Optional[bytes]:
        """Return the manifest bytes of ``reference``, or None when it does not exist.

        For a multi-arch image this is the image index itself, not a platform's
        manifest. Errors other than "not found" raise SkopeoError.
        """
        try:
            result = self.run(self.inspect_raw_args(reference, side), [reference])
        except SkopeoError as exc:
            if exc.kind == NOT_FOUND:
                return None
            raise
        return result.stdout

    def inspect_digest(self, reference: str, side: str = SOURCE) -> Optional[str]:
        """Return the manifest digest of ``reference``, or None when it does not exist.

        The digest is the hash of the raw manifest (``skopeo inspect --raw``),
        which is one registry request and is the index digest for multi-arch
        images. A reference pinned to another algorithm is hashed with it.
        """
        raw = self.inspect_raw(reference, side)
        if raw is None:
            return None
        algorithm = "sha256"
        if "@" in reference:
            algorithm = reference.rpartition("@")[2].partition(":")[0]
        return manifest_digest(raw, algorithm)

    def copy(
        self,
        source: str,
        destination: str,
        all_images: bool = True,
        preserve_digests: bool = True,
        extra: Sequence[str] = (),
    ) -> CommandResult:
        """Copy registry image ``source`` to registry image ``destination``.

        Both are references without a transport. By default every platform of
        an index is copied and digests are kept, so the destination's index
        digest equals the source's.
        """
        argv = self.copy_args(
            docker_transport(source),
            docker_transport(destination),
            all_images=all_images,
            preserve_digests=preserve_digests,
            extra=extra,
        )
        return self.run(argv, [source, destination])

    def pull_oci_layout(
        self,
        reference: str,
        directory: str,
        tag: str = "image",
        architecture: Optional[str] = None,
    ) -> CommandResult:
        """Copy one platform of source image ``reference`` into OCI layout ``directory``.

        skopeo picks the platform of the machine it runs on unless
        ``architecture`` (for example ``amd64``) is given; the OS is linux.
        """
        extra: List[str] = []
        if architecture:
            extra = ["--override-os=linux", "--override-arch=" + architecture]
        argv = (
            self.global_args()
            + extra
            + ["copy", "--quiet"]
            + self.side_args(SOURCE, "src-")
            + self.authfile_args()
            + [docker_transport(reference), "oci:%s:%s" % (directory, tag)]
        )
        return self.run(argv, [reference])

    def version(self) -> str:
        """Return the version number that ``skopeo --version`` prints."""
        result = self.run([self.executable, "--version"])
        text = result.stdout.decode("utf-8", errors="replace").strip()
        return text.rpartition(" ")[2]

    def _options(self, side: str) -> RegistryOptions:
        if side not in self.options:
            raise ValueError(
                "unknown registry side %r. Use %r or %r." % (side, SOURCE, DESTINATION)
            )
        return self.options[side]
