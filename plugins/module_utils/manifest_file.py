# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read manifest files as text, with errors that name the file and the fix."""

from __future__ import annotations

import os
from typing import Optional

from ansible_collections.pko.airgap.plugins.module_utils.manifest_yaml import (
    ManifestError,
)


def read_manifest(path: str, option: str = "src") -> str:
    """Return the file's text, decoded as UTF-8 with line endings as they are.

    ``option`` names the module option in messages. Raises ManifestError
    when the file is missing, not a regular file, unreadable or not UTF-8.
    """
    data = _read_bytes(path, option)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ManifestError(
            "%s %s is not UTF-8 text: the byte 0x%02x at offset %d is invalid. Give "
            "a YAML manifest; convert other encodings to UTF-8 first."
            % (option, path, data[error.start], error.start)
        ) from None


def read_existing(path: str, option: str = "dest") -> Optional[str]:
    """Return the text of ``path``, or None when it does not exist yet."""
    if not os.path.lexists(path):
        return None
    return read_manifest(path, option)


def _read_bytes(path: str, option: str) -> bytes:
    if not os.path.lexists(path):
        raise ManifestError(
            "%s %s does not exist. Give the path of an existing manifest."
            % (option, path)
        )
    if os.path.isdir(path):
        raise ManifestError(
            "%s %s is a directory. Give the path of a manifest file." % (option, path)
        )
    if not os.path.isfile(path):
        # Reading a FIFO or a device could block or never end.
        raise ManifestError(
            "%s %s is not a regular file. Give the path of a manifest file."
            % (option, path)
        )
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ManifestError(
            "%s %s cannot be read: %s. Check the path and its permissions."
            % (option, path, error.strerror or error)
        ) from None


def check_destination(path: str) -> None:
    """Raise ManifestError unless a file can be written at ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ManifestError("dest %s is a directory. Give a file path." % path)
    if not os.path.isdir(directory):
        raise ManifestError(
            "the directory of dest %s does not exist. Create %s first."
            % (path, directory)
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ManifestError(
            "dest %s cannot be written: the directory %s is not writable. Check its "
            "permissions." % (path, directory)
        )
