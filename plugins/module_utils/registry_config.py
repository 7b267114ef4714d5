# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read the container configuration that decides how skopeo reaches a registry.

The registry API client (registry_client.py) must use the credentials,
certificates and redirects that skopeo 1.9.3 (containers/image 5.23) would
use, or leave the check to skopeo. This module finds them: credentials in
containers-auth.json(5) and Docker config files, the registries that
containers-registries.conf(5) files configure, and the CA and client
certificates of a ``cert_dir``. What it cannot reproduce raises
UnsupportedConfigError. This module has no Ansible import.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import re
import ssl
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    DOCKER_HUB_DOMAIN,
)

_AUTH_FILE_HELPER = "containers-auth.json"


class UnsupportedConfigError(Exception):
    """A configuration that only skopeo can apply, such as a credential helper."""


@dataclass(frozen=True)
class Credentials:
    """A username and password for one registry."""

    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        token = "%s:%s" % (self.username, self.password)
        return "Basic " + base64.b64encode(token.encode("utf-8")).decode("ascii")


# Credentials from auth files


def auth_file_paths(
    authfile: Optional[str],
    environ: Mapping[str, str],
    home: str,
    uid: int,
) -> List[Tuple[str, bool]]:
    """Return the auth files that skopeo searches, in order, with a legacy flag each."""
    paths = []
    first = authfile or environ.get("REGISTRY_AUTH_FILE")
    if not first:
        runtime_dir = environ.get("XDG_RUNTIME_DIR")
        if runtime_dir:
            # skopeo skips this file, with a warning, when the directory is missing.
            if os.path.isdir(runtime_dir):
                first = os.path.join(runtime_dir, "containers", "auth.json")
        else:
            first = "/run/containers/%d/auth.json" % uid
    if first:
        paths.append((first, False))

    config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    paths.append((os.path.join(config_home, "containers", "auth.json"), False))
    docker_config = environ.get("DOCKER_CONFIG")
    if docker_config:
        paths.append((os.path.join(docker_config, "config.json"), False))
    else:
        paths.append((os.path.join(home, ".docker", "config.json"), False))
    paths.append((os.path.join(home, ".dockercfg"), True))
    return paths


def _auth_file_host(key: str, legacy: bool) -> str:
    """Return the registry that an auth file key written as a URL names.

    Only a key with a scheme, or any key of a legacy file, loses its path, so
    ``registry/namespace`` keys match exactly or not at all.
    """
    stripped = key
    for scheme in ("http://", "https://"):
        if stripped.startswith(scheme):
            stripped = stripped[len(scheme) :]
            break
    if legacy or stripped != key:
        stripped = stripped.partition("/")[0]
    if stripped in ("registry-1.docker.io", "docker.io"):
        return "index.docker.io"
    return stripped


def _read_auth_file(path: str, legacy: bool) -> Optional[dict]:
    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UnsupportedConfigError(
            "failed to read auth file %s: %s" % (path, exc)
        ) from None
    if not isinstance(document, dict):
        raise UnsupportedConfigError("auth file %s is not a JSON object" % path)
    if legacy:
        return {"auths": document}
    return document


def find_credentials(
    registry: str, name: str, paths: Sequence[Tuple[str, bool]]
) -> Optional[Credentials]:
    """Return the credentials skopeo would use for repository ``name`` on ``registry``.

    ``name`` is ``registry/repository``. Each auth file of ``paths`` (see
    auth_file_paths) is searched in order, with keys from the most specific
    (``registry/namespace/repo``) to the registry, then as normalized URLs.
    Returns None when no file has a username and password for it. Raises
    UnsupportedConfigError for a credential helper of this registry or an
    identity token, which only skopeo can use.
    """
    keys = [name]
    while "/" in keys[-1]:
        keys.append(keys[-1].rpartition("/")[0])

    for path, legacy in paths:
        document = _read_auth_file(path, legacy)
        if document is None:
            continue
        helpers = document.get("credHelpers") or {}
        if isinstance(helpers, dict) and registry in helpers:
            raise UnsupportedConfigError(
                "auth file %s names a credential helper for %s" % (path, registry)
            )
        entries = document.get("auths")
        if entries is None:
            entries = {}
        if not isinstance(entries, dict):
            raise UnsupportedConfigError(
                "auth file %s has an 'auths' value that is not a mapping" % path
            )
        entry = _auth_entry(entries, [registry] if legacy else keys, legacy)
        if entry is None:
            continue
        if entry.get("identitytoken"):
            raise UnsupportedConfigError(
                "auth file %s has an identity token for %s" % (path, registry)
            )
        credentials = _decode_auth(entry.get("auth"), path)
        if credentials is not None:
            return credentials
    return None


def _auth_entry(
    entries: Mapping[str, object], keys: Sequence[str], legacy: bool
) -> Optional[dict]:
    for key in keys:
        entry = entries.get(key)
        if isinstance(entry, dict):
            return entry
    expected_host = "index.docker.io" if keys[-1] == "docker.io" else keys[-1]
    for key, entry in entries.items():
        host = _auth_file_host(str(key), legacy)
        if host == expected_host and isinstance(entry, dict):
            return entry
    return None


def _decode_auth(value: object, path: str) -> Optional[Credentials]:
    if not value:
        return None
    try:
        decoded = base64.b64decode(str(value), validate=True).decode("utf-8")
    except ValueError:
        raise UnsupportedConfigError(
            "auth file %s has an 'auth' value that is not base64" % path
        ) from None
    username, separator, password = decoded.partition(":")
    password = password.strip("\x00")
    if not separator or not username or not password:
        return None
    return Credentials(username, password)


# containers-registries.conf(5)


@dataclass(frozen=True)
class RegistriesConf:
    """The registries that containers-registries.conf(5) files configure.

    ``hosts`` are the host names, without port, of ``[[registry]]`` prefixes
    or locations and of version 1 ``insecure`` and ``block`` lists.
    ``suffixes`` come from wildcard prefixes such as ``*.example.com``.
    ``everything`` is set when a file could not be read or sets credential
    helpers, and then every registry counts as configured. ``reason`` says why.
    """

    hosts: frozenset = frozenset()
    suffixes: frozenset = frozenset()
    everything: bool = False
    reason: str = ""

    def configures(self, registry: str) -> bool:
        """Return True when an entry may redirect or change access to ``registry``."""
        if self.everything:
            return True
        host = _hostname(registry)
        if host in self.hosts:
            return True
        return any(host.endswith("." + suffix) for suffix in self.suffixes)

    @classmethod
    def from_files(
        cls, paths: Sequence[str], required: Sequence[str] = ()
    ) -> "RegistriesConf":
        """Return the registries that the files of ``paths`` configure.

        A missing file is skipped unless it is in ``required``, and then every
        registry counts as configured, so that skopeo reports the missing file.
        """
        hosts, suffixes = set(), set()
        for path in paths:
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except FileNotFoundError:
                if path in required:
                    return cls(everything=True, reason="%s does not exist" % path)
                continue
            except (OSError, UnicodeDecodeError) as exc:
                return cls(everything=True, reason="cannot read %s: %s" % (path, exc))
            try:
                found_hosts, found_suffixes = scan_registries_conf(text)
            except ValueError as exc:
                return cls(everything=True, reason="%s: %s" % (path, exc))
            hosts.update(found_hosts)
            suffixes.update(found_suffixes)
        return cls(frozenset(hosts), frozenset(suffixes))


def registries_conf_paths(
    registries_conf: Optional[str],
    environ: Mapping[str, str],
    home: str,
    system_dir: str = "/etc/containers",
) -> List[str]:
    """Return every registries.conf file and drop-in that skopeo may read.

    This is a superset of what skopeo reads: both the per-user and the
    system file are listed, because an extra file only means more checks
    done by skopeo.
    """
    main = registries_conf or environ.get("CONTAINERS_REGISTRIES_CONF")
    user_dir = os.path.join(home, ".config", "containers")
    if main:
        paths = [main]
    else:
        paths = [
            os.path.join(user_dir, "registries.conf"),
            os.path.join(system_dir, "registries.conf"),
        ]
    for directory in (system_dir, user_dir):
        paths += sorted(
            glob.glob(os.path.join(directory, "registries.conf.d", "*.conf"))
        )
    return paths


def _hostname(registry: str) -> str:
    """Return the host of ``registry`` without port, Docker Hub's names unified."""
    host = registry.partition("/")[0]
    if host.startswith("["):
        host = host.partition("]")[0] + "]"
    else:
        host = host.partition(":")[0]
    if host in ("index.docker.io", "registry-1.docker.io"):
        return DOCKER_HUB_DOMAIN
    return host


_TABLE_RE = re.compile(
    r"^(\[\[?)\s*([A-Za-z0-9_-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*)\s*(\]\]?)$"
)
_KEY_RE = re.compile(r'^([A-Za-z0-9_-]+|"[^"\\]*")\s*=\s*(.*)$', re.S)
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def scan_registries_conf(text: str) -> Tuple[set, set]:
    """Return the host names and wildcard suffixes that a registries.conf configures.

    Reads the parts of TOML that such a file uses: tables, array tables,
    strings and arrays of strings. Raises ValueError for anything it does
    not parse, and for credential helpers other than the auth files.
    """
    hosts, suffixes = set(), set()
    table = ""
    entry: Dict[str, str] = {}

    def finish_registry() -> None:
        value = entry.get("prefix") or entry.get("location")
        if not value:
            raise ValueError("a [[registry]] table has neither prefix nor location")
        _add_host(value, hosts, suffixes)

    for line in _logical_lines(text):
        header = _TABLE_RE.match(line)
        if line.startswith("["):
            if header is None or len(header.group(1)) != len(header.group(3)):
                raise ValueError("unsupported table header %s" % line[:80])
            if table == "registry":
                finish_registry()
            table = re.sub(r"\s+", "", header.group(2))
            entry = {}
            continue

        found = _KEY_RE.match(line)
        if found is None:
            raise ValueError("unsupported line %s" % line[:80])
        key, value = found.group(1).strip('"'), found.group(2).strip()
        if table == "" and key in ("registry", "registries"):
            raise ValueError("inline %s tables are not supported" % key)
        if table == "" and key == "credential-helpers":
            helpers = _string_array(value)
            if [helper for helper in helpers if helper != _AUTH_FILE_HELPER]:
                raise ValueError("credential helpers %s are set" % ", ".join(helpers))
        elif table == "registry" and key in ("prefix", "location"):
            entry[key] = _string(value)
        elif (
            table in ("registries.insecure", "registries.block") and key == "registries"
        ):
            for value_host in _string_array(value):
                _add_host(value_host, hosts, suffixes)
    if table == "registry":
        finish_registry()
    return hosts, suffixes


def _add_host(value: str, hosts: set, suffixes: set) -> None:
    if value.startswith("*."):
        suffixes.add(_hostname(value[2:]))
    else:
        hosts.add(_hostname(value))


def _logical_lines(text: str) -> List[str]:
    """Return statements without comments, joining arrays that span lines."""
    lines, pending, depth = [], "", 0
    for raw in text.splitlines():
        if '"""' in raw or "'''" in raw:
            raise ValueError("multi-line strings are not supported")
        stripped, depth = _strip_comment(raw, depth)
        pending = (pending + " " + stripped).strip() if pending else stripped.strip()
        if depth == 0 and pending:
            lines.append(pending)
            pending = ""
    if depth != 0:
        raise ValueError("an array or inline table is not closed")
    return lines


def _strip_comment(line: str, depth: int) -> Tuple[str, int]:
    quote = None
    index = 0
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:index], depth
        elif char in "[{" and (depth or "=" in line[:index]):
            depth += 1
        elif char in "]}" and depth:
            depth -= 1
        index += 1
    if quote:
        raise ValueError("a string is not closed")
    return line, depth


def _string(value: str) -> str:
    match = _STRING_RE.fullmatch(value)
    if match is None:
        raise ValueError("expected a string, got %s" % value[:80])
    if value.startswith("'"):
        return value[1:-1]
    return json.loads(value)


def _string_array(value: str) -> List[str]:
    if not (value.startswith("[") and value.endswith("]")):
        raise ValueError("expected an array of strings, got %s" % value[:80])
    items = []
    rest = value[1:-1].strip()
    while rest:
        match = _STRING_RE.match(rest)
        if match is None:
            raise ValueError("expected a string in %s" % value[:80])
        items.append(_string(match.group(0)))
        rest = rest[match.end() :].lstrip()
        if rest.startswith(","):
            rest = rest[1:].lstrip()
        elif rest:
            raise ValueError("expected ',' in %s" % value[:80])
    return items


# TLS


def default_cert_dir(registry: str, home: str, euid: int) -> Optional[str]:
    """Return the per-host certificate directory skopeo reads without ``cert_dir``."""
    roots = ["/etc/containers/certs.d", "/etc/docker/certs.d"]
    if euid != 0:
        roots.insert(0, os.path.join(home, ".config", "containers", "certs.d"))
    for root in roots:
        path = os.path.join(root, registry)
        if os.path.isdir(path):
            return path
    return None


def tls_context(verify: bool, cert_dir: Optional[str]) -> ssl.SSLContext:
    """Return a client TLS context with the CAs and client keys of ``cert_dir``.

    The CAs are added to the default trust. Raises UnsupportedConfigError
    for a client key without its certificate or a file that does not load,
    so that skopeo reports the problem itself.
    """
    if verify:
        context = ssl.create_default_context()
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if not cert_dir:
        return context

    try:
        names = sorted(os.listdir(cert_dir))
    except FileNotFoundError:
        return context
    except OSError as exc:
        raise UnsupportedConfigError(
            "failed to list cert_dir %s: %s" % (cert_dir, exc.strerror or exc)
        ) from None

    try:
        for name in names:
            path = os.path.join(cert_dir, name)
            if name.endswith(".crt") and verify:
                context.load_verify_locations(cafile=path)
            elif name.endswith(".cert"):
                key = path[: -len(".cert")] + ".key"
                if not os.path.exists(key):
                    raise UnsupportedConfigError(
                        "client certificate %s has no key %s" % (path, key)
                    )
                context.load_cert_chain(path, key)
            elif name.endswith(".key"):
                if not os.path.exists(path[: -len(".key")] + ".cert"):
                    raise UnsupportedConfigError(
                        "client key %s has no certificate" % path
                    )
    except (ssl.SSLError, OSError) as exc:
        raise UnsupportedConfigError(
            "failed to load certificates from cert_dir %s: %s" % (cert_dir, exc)
        ) from None
    return context
