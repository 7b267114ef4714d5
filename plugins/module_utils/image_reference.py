# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Container image references: parsing, validation and normalization.

The grammar follows the distribution project's reference package
(github.com/distribution/reference, ``reference.go``), which is what
Kubernetes, containerd and Package Operator accept:

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*
    domain     := host [":" port]

The first component is a registry only when it contains ``.`` or ``:`` or is
``localhost``; otherwise the name is on Docker Hub. This module has no Ansible
import so that it runs in unit tests and on any managed node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

DOCKER_HUB_DOMAIN = "docker.io"
DOCKER_HUB_LEGACY_DOMAINS = ("index.docker.io", "registry-1.docker.io")
DOCKER_HUB_OFFICIAL_PREFIX = "library/"

# The limit applies to the name (registry and repository), as in reference.go.
NAME_MAX_LENGTH = 255

# Longest value that an error message quotes in full.
MESSAGE_VALUE_LIMIT = 120

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = r"(?:%s(?:\.%s)*|\[[0-9a-fA-F:]+\])" % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT)
_DOMAIN_RE = re.compile(r"^%s(?::[0-9]+)?$" % _HOST)
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
_DIGEST_RE = re.compile(
    r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$", re.ASCII
)
_SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_WHITESPACE_RE = re.compile(r"\s")


def quote_value(value: object, limit: int = MESSAGE_VALUE_LIMIT) -> str:
    """Return ``repr(value)`` for a message, cut to about ``limit`` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return "%s... (%d characters)" % (text[: max(limit - 20, 10)], len(text))


class ImageReferenceError(ValueError):
    """An image reference that does not follow the reference grammar."""

    def __init__(self, reference: object, reason: str) -> None:
        self.reference = reference
        self.reason = reason
        super().__init__(
            "invalid image reference %s: %s. Use the form "
            "[registry[:port]/]repository[:tag][@sha256:<64 hex digits>] "
            "with a lower-case repository." % (quote_value(reference), reason)
        )


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference; ``str()`` gives it back exactly as written."""

    domain: str
    path: str
    tag: Optional[str]
    digest: Optional[str]
    original: str

    def __str__(self) -> str:
        return self.original

    @property
    def name(self) -> str:
        """Registry and repository as written, without tag or digest."""
        if self.domain:
            return "%s/%s" % (self.domain, self.path)
        return self.path

    @property
    def registry(self) -> str:
        """Registry host and port, with Docker Hub filled in when omitted."""
        return _canonical_domain(self.domain)

    @property
    def repository(self) -> str:
        """Repository path inside the registry, Docker Hub's ``library/`` added."""
        if self.registry == DOCKER_HUB_DOMAIN and "/" not in self.path:
            return DOCKER_HUB_OFFICIAL_PREFIX + self.path
        return self.path

    def fully_qualified(self) -> str:
        """Return the reference in the form a container runtime resolves it to.

        ``nginx:1`` becomes ``docker.io/library/nginx:1``. Tag and digest are
        kept; no ``:latest`` is added, so that prefix matching on the result
        does not see a tag the user never wrote.
        """
        return "%s/%s%s" % (self.registry, self.repository, self.suffix)

    @property
    def suffix(self) -> str:
        """The ``:tag``, ``@digest`` or ``:tag@digest`` part, or ``""``."""
        text = ""
        if self.tag is not None:
            text += ":" + self.tag
        if self.digest is not None:
            text += "@" + self.digest
        return text

    def with_digest(self, digest: str) -> str:
        """Return ``name@digest``, the form that pins one exact manifest."""
        return "%s@%s" % (self.name, digest)


def _canonical_domain(domain: str) -> str:
    if not domain or domain in DOCKER_HUB_LEGACY_DOMAINS:
        return DOCKER_HUB_DOMAIN
    return domain


def split_domain(name: str) -> tuple[str, str]:
    """Return the registry host of ``name`` and the rest, as container runtimes split it.

    The first component is a host only when it contains '.' or ':', is
    'localhost' or has upper-case letters. Otherwise the host is empty,
    which means Docker Hub.
    """
    first, sep, rest = name.partition("/")
    if not sep:
        return "", name
    if "." in first or ":" in first or first == "localhost" or first != first.lower():
        return first, rest
    return "", name


def parse_image_reference(text: object) -> ImageReference:
    """Parse ``text`` into an :class:`ImageReference` or raise ImageReferenceError."""
    if not isinstance(text, str):
        raise ImageReferenceError(
            text, "expected a string, got %s" % type(text).__name__
        )
    if not text:
        raise ImageReferenceError(text, "the reference is empty")
    if text != text.strip():
        raise ImageReferenceError(text, "it has leading or trailing whitespace")
    if _WHITESPACE_RE.search(text):
        raise ImageReferenceError(text, "it contains whitespace")

    remainder, digest = text, None
    if "@" in remainder:
        remainder, separator, digest = remainder.partition("@")
        if not _DIGEST_RE.match(digest):
            raise ImageReferenceError(
                text, "digest %s is not of the form algorithm:hex" % quote_value(digest)
            )
        if digest.startswith("sha256:") and not _SHA256_RE.match(digest):
            raise ImageReferenceError(
                text, "a sha256 digest has exactly 64 lower-case hex digits"
            )

    tag = None
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > slash:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ImageReferenceError(
                text,
                "tag %s must be 1-128 characters of letters, digits, '_', '.' "
                "or '-' and must not start with '.' or '-'" % quote_value(tag),
            )

    if not remainder:
        raise ImageReferenceError(text, "the repository name is missing")
    if len(remainder) > NAME_MAX_LENGTH:
        raise ImageReferenceError(
            text, "the name is longer than %d characters" % NAME_MAX_LENGTH
        )

    domain, path = split_domain(remainder)
    if domain and not _DOMAIN_RE.match(domain):
        raise ImageReferenceError(
            text, "registry %s is not a valid host[:port]" % quote_value(domain)
        )
    if not path:
        raise ImageReferenceError(text, "the repository path is empty")
    for component in path.split("/"):
        if not component:
            raise ImageReferenceError(
                text, "the repository path has an empty component"
            )
        if not _PATH_COMPONENT_RE.match(component):
            if component.lower() != component and _PATH_COMPONENT_RE.match(
                component.lower()
            ):
                raise ImageReferenceError(
                    text,
                    "repository component %s must be lower case"
                    % quote_value(component),
                )
            raise ImageReferenceError(
                text,
                "repository component %s may contain only a-z, 0-9 and the "
                "separators '.', '_', '__' or '-'" % quote_value(component),
            )

    return ImageReference(
        domain=domain, path=path, tag=tag, digest=digest, original=text
    )


def is_image_reference(text: object) -> bool:
    """Return True when ``text`` parses as an image reference."""
    try:
        parse_image_reference(text)
    except ImageReferenceError:
        return False
    return True
