# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Image pulls over the registry HTTP API v2, the way a kubelet would do them."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import ipaddress
import json
import re
import tarfile
import threading
from typing import Dict, Mapping, Optional, Tuple

import requests

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReferenceError,
    parse_image_reference,
)

DEFAULT_PLATFORM = "linux/amd64"
REGISTRY_TIMEOUT_SECONDS = 10.0

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_MEDIA_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
MANIFEST_ACCEPT = ", ".join(
    (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
)
GZIP_LAYER_MEDIA_TYPES = (
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
)
TAR_LAYER_MEDIA_TYPES = ("application/vnd.oci.image.layer.v1.tar",)
WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"

Credentials = Mapping[str, Tuple[str, str]]


class ImagePullError(Exception):
    """An image that cannot be pulled: unreachable registry, missing manifest or blob."""


def is_loopback_host(registry: str) -> bool:
    """Return True when a registry ``host[:port]`` is on a loopback address."""
    host = registry
    if host.startswith("["):
        host = host[1 : host.index("]")]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def registry_key(server: str) -> str:
    """Return the ``host[:port]`` of a docker config ``auths`` key.

    Keys may be written as ``host:port``, ``https://host:port`` or
    ``https://host/v1/``.
    """
    key = re.sub(r"^[a-z]+://", "", server)
    return key.split("/", 1)[0]


def parse_docker_config(document: Mapping) -> Dict[str, Tuple[str, str]]:
    """Return ``{registry: (username, password)}`` from a docker config.json.

    This is the format of ``kubernetes.io/dockerconfigjson`` pull secrets and
    of skopeo's ``--authfile``. Entries without a username are skipped.
    """
    credentials = {}
    for server, entry in (document.get("auths") or {}).items():
        if not isinstance(entry, Mapping):
            continue
        if entry.get("auth"):
            decoded = base64.b64decode(entry["auth"]).decode("utf-8")
            username, separator, password = decoded.partition(":")
        else:
            username, password = entry.get("username"), entry.get("password")
        if username and password is not None:
            credentials[registry_key(server)] = (username, password)
    return credentials


@dataclasses.dataclass
class Manifest:
    """A fetched manifest or index and the sha256 digest of its bytes."""

    reference: str
    media_type: str
    digest: str
    document: dict


class RegistryClient:
    """Fetch manifests and blobs from registries on loopback addresses.

    A registry on any other host is reported as unreachable without a
    connection attempt, as on an air-gapped cluster. HTTPS is tried first and
    plain HTTP second, as Docker does for registries in 127.0.0.0/8, which
    it treats as insecure by default.
    ``ca_file`` is the CA bundle for HTTPS. Only HTTP basic authentication is
    implemented, with credentials looked up by ``host:port``: first those
    passed with a request (from pull secrets), then the client's own (node
    credentials).
    """

    def __init__(
        self,
        ca_file: Optional[str] = None,
        credentials: Optional[Credentials] = None,
        platform: str = DEFAULT_PLATFORM,
        timeout: float = REGISTRY_TIMEOUT_SECONDS,
    ) -> None:
        self.ca_file = ca_file
        self.credentials = dict(credentials or {})
        self.os_name, separator, self.architecture = platform.partition("/")
        self.timeout = timeout
        self._session = requests.Session()
        # Proxy variables must not send loopback traffic anywhere else.
        self._session.trust_env = False
        self._base_urls: Dict[str, str] = {}
        self._lock = threading.Lock()

    def check_image(
        self, reference: str, credentials: Optional[Credentials] = None
    ) -> str:
        """Check that everything a pull of ``reference`` needs is in its registry.

        That is the manifest, for an index the manifest of this client's
        platform, and that manifest's config and layer blobs. Returns the
        digest of the manifest or index that the reference names, and raises
        ImagePullError for the first part that is missing.
        """
        top = self.get_manifest(reference, credentials)
        manifest = top
        if top.media_type in INDEX_MEDIA_TYPES:
            manifest = self._platform_manifest(top, credentials, first=False)

        descriptors = [manifest.document.get("config") or {}]
        descriptors += list(manifest.document.get("layers") or [])
        for descriptor in descriptors:
            if "digest" not in descriptor:
                raise ImagePullError(
                    "manifest %s of %s has a descriptor without digest"
                    % (manifest.digest, reference)
                )
            self._blob("HEAD", reference, descriptor["digest"], credentials)
        return top.digest

    def pull_files(
        self, reference: str, prefix: str, credentials: Optional[Credentials] = None
    ) -> Dict[str, bytes]:
        """Return the files under ``prefix`` in the image's layers, by path.

        For an index the first listed manifest is used, whatever its
        platform. Layers apply in order, and OCI whiteout files delete what
        earlier layers added. Each layer is checked against its digest.
        """
        manifest = self.get_manifest(reference, credentials)
        if manifest.media_type in INDEX_MEDIA_TYPES:
            manifest = self._platform_manifest(manifest, credentials, first=True)

        files: Dict[str, bytes] = {}
        for layer in manifest.document.get("layers") or []:
            response = self._blob("GET", reference, layer["digest"], credentials)
            data = response.content
            if "sha256:" + hashlib.sha256(data).hexdigest() != layer["digest"]:
                raise ImagePullError(
                    "layer %s of %s does not match its digest"
                    % (layer["digest"], reference)
                )
            apply_layer(files, layer_tar(layer, data, reference), prefix)
        return files

    def get_manifest(
        self,
        reference: str,
        credentials: Optional[Credentials] = None,
        digest: Optional[str] = None,
    ) -> Manifest:
        """Fetch the manifest or index that ``reference`` names.

        ``digest`` fetches another manifest in the same repository, such as
        one platform's manifest of an index. A fetch by digest is verified
        against that digest.
        """
        try:
            parsed = parse_image_reference(reference)
        except ImageReferenceError as error:
            raise ImagePullError(str(error)) from error
        registry = parsed.registry
        # The kubelet pulls :latest when a reference has neither tag nor digest.
        ref = digest or parsed.digest or parsed.tag or "latest"
        where = "%s/%s" % (registry, parsed.repository)

        response = self._request(
            "GET",
            registry,
            "/v2/%s/manifests/%s" % (parsed.repository, ref),
            credentials,
            accept=MANIFEST_ACCEPT,
        )
        if response.status_code == 404:
            raise ImagePullError(
                "manifest %s not found in %s (HTTP 404)" % (ref, where)
            )
        if response.status_code != 200:
            raise ImagePullError(
                "fetching manifest %s of %s failed with HTTP %d: %s"
                % (ref, where, response.status_code, response.text[:200])
            )

        body = response.content
        actual = "sha256:" + hashlib.sha256(body).hexdigest()
        if ref.startswith("sha256:") and actual != ref:
            raise ImagePullError(
                "manifest %s of %s has digest %s, so the registry returned other "
                "content" % (ref, where, actual)
            )
        try:
            document = json.loads(body)
        except ValueError as error:
            raise ImagePullError(
                "manifest %s of %s is not JSON: %s" % (ref, where, error)
            ) from error
        media_type = document.get("mediaType") or response.headers.get(
            "Content-Type", ""
        )
        return Manifest(reference, media_type.split(";")[0], actual, document)

    def _platform_manifest(
        self, index: Manifest, credentials: Optional[Credentials], first: bool
    ) -> Manifest:
        entries = index.document.get("manifests") or []
        if not first:
            entries = [
                entry
                for entry in entries
                if (entry.get("platform") or {}).get("os") == self.os_name
                and (entry.get("platform") or {}).get("architecture")
                == self.architecture
            ]
        if not entries:
            raise ImagePullError(
                "index %s of %s lists no manifest for platform %s/%s"
                % (index.digest, index.reference, self.os_name, self.architecture)
            )
        return self.get_manifest(
            index.reference, credentials, digest=entries[0]["digest"]
        )

    def _blob(
        self,
        method: str,
        reference: str,
        digest: str,
        credentials: Optional[Credentials],
    ) -> requests.Response:
        parsed = parse_image_reference(reference)
        response = self._request(
            method,
            parsed.registry,
            "/v2/%s/blobs/%s" % (parsed.repository, digest),
            credentials,
        )
        if response.status_code == 404:
            raise ImagePullError(
                "blob %s of %s not found in %s/%s (HTTP 404)"
                % (digest, reference, parsed.registry, parsed.repository)
            )
        if response.status_code != 200:
            raise ImagePullError(
                "%s of blob %s of %s failed with HTTP %d"
                % (method, digest, reference, response.status_code)
            )
        return response

    def _base_url(self, registry: str) -> str:
        with self._lock:
            if registry in self._base_urls:
                return self._base_urls[registry]

        if not is_loopback_host(registry):
            raise ImagePullError(
                "registry %s is not reachable: this test cluster pulls only from "
                "registries on 127.0.0.1, so rewrite the reference to the mirror"
                % registry
            )

        errors = []
        for scheme in ("https", "http"):
            url = "%s://%s" % (scheme, registry)
            try:
                self._session.get(
                    url + "/v2/", timeout=self.timeout, verify=self._verify
                )
            except requests.exceptions.SSLError as error:
                # A plain HTTP server fails the TLS handshake, so try HTTP next.
                errors.append("%s: %s" % (scheme, error))
                continue
            except requests.exceptions.RequestException as error:
                errors.append("%s: %s" % (scheme, error))
                break
            with self._lock:
                self._base_urls[registry] = url
            return url
        raise ImagePullError(
            "registry %s is not reachable (%s)" % (registry, "; ".join(errors))
        )

    @property
    def _verify(self):
        return self.ca_file or True

    def _request(
        self,
        method: str,
        registry: str,
        path: str,
        credentials: Optional[Credentials],
        accept: Optional[str] = None,
    ) -> requests.Response:
        url = self._base_url(registry) + path
        headers = {"Accept": accept} if accept else {}
        options = {"headers": headers, "timeout": self.timeout, "verify": self._verify}
        try:
            response = self._session.request(method, url, **options)
            if response.status_code == 401:
                auth = self._basic_auth(registry, response, credentials)
                response = self._session.request(method, url, auth=auth, **options)
        except requests.exceptions.RequestException as error:
            raise ImagePullError("%s %s failed: %s" % (method, url, error)) from error

        if response.status_code == 401:
            raise ImagePullError(
                "registry %s rejected the credentials for %s (HTTP 401)"
                % (registry, path)
            )
        return response

    def _basic_auth(
        self,
        registry: str,
        response: requests.Response,
        credentials: Optional[Credentials],
    ) -> Tuple[str, str]:
        challenge = response.headers.get("WWW-Authenticate", "")
        if not challenge.lower().startswith("basic"):
            raise ImagePullError(
                "registry %s requests %r authentication, which this test controller "
                "does not implement (only basic)"
                % (registry, challenge.split(" ", 1)[0])
            )
        found = (credentials or {}).get(registry) or self.credentials.get(registry)
        if found is None:
            raise ImagePullError(
                "registry %s requires authentication and no pull secret or auth file "
                "has credentials for it" % registry
            )
        return found


def layer_tar(layer: Mapping, data: bytes, reference: str) -> bytes:
    """Return the uncompressed tar of a layer blob."""
    media_type = layer.get("mediaType", "")
    if media_type in GZIP_LAYER_MEDIA_TYPES:
        return gzip.decompress(data)
    if media_type in TAR_LAYER_MEDIA_TYPES:
        return data
    raise ImagePullError(
        "layer %s of %s has media type %r, but only tar and tar+gzip layers are "
        "supported" % (layer.get("digest"), reference, media_type)
    )


def apply_layer(files: Dict[str, bytes], tar_bytes: bytes, prefix: str) -> None:
    """Apply one layer tar to ``files``, keeping regular files under ``prefix``.

    Whiteouts act on the lower layers only, as in the OCI image layer spec:
    ``.wh.NAME`` removes ``NAME`` and everything below it, and
    ``.wh..wh..opq`` empties its directory. They are applied before the
    layer's own files are added.
    """
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as archive:
        members = [(_clean_path(member.name), member) for member in archive]

        for path, _member in members:
            directory, separator, base = path.rpartition("/")
            if base == OPAQUE_WHITEOUT:
                _remove_tree(files, directory, keep_root=True)
            elif base.startswith(WHITEOUT_PREFIX):
                removed = base[len(WHITEOUT_PREFIX) :]
                _remove_tree(files, directory + "/" + removed if directory else removed)

        for path, member in members:
            if path.rpartition("/")[2].startswith(WHITEOUT_PREFIX):
                continue
            if not member.isfile() or not path.startswith(prefix):
                continue
            extracted = archive.extractfile(member)
            if extracted is not None:
                files[path] = extracted.read()


def _clean_path(name: str) -> str:
    while name.startswith("./") or name.startswith("/"):
        name = name[2:] if name.startswith("./") else name[1:]
    return name


def _remove_tree(files: Dict[str, bytes], path: str, keep_root: bool = False) -> None:
    below = path + "/" if path else ""
    for name in list(files):
        if name.startswith(below) or (name == path and not keep_root):
            del files[name]
