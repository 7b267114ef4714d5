# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Make ``ansible_collections.pko.airgap`` importable for plain ``pytest``.

The repository root is the collection root, so the import path the plugins
use does not exist on disk. This builds it once per session in a temporary
directory with a symlink. Under ``ansible-test units`` the collection loader
already provides the path and this does nothing.
"""

import importlib.util
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))


def _install_collection_path():
    try:
        if importlib.util.find_spec("ansible_collections.pko.airgap") is not None:
            return
    except ModuleNotFoundError:
        pass
    base = tempfile.mkdtemp(prefix="pko-airgap-pytest-")
    namespace = os.path.join(base, "ansible_collections", "pko")
    os.makedirs(namespace)
    os.symlink(ROOT, os.path.join(namespace, "airgap"))
    sys.path.insert(0, base)


_install_collection_path()
