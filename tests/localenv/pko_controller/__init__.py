# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A test controller that plays Package Operator's self-bootstrap and the kubelet.

The local control plane runs no kubelet, scheduler or controller-manager, so
nothing would ever run the bootstrap Job from Package Operator's
``self-bootstrap-job.yaml``. This controller watches that Job and does what
the kubelet and the bootstrap would do, against the real API server:

1. Check that the Job's container images can be pulled, as the kubelet
   would. A missing image fails the Job with reason ``ImagePullBackOff``.
2. Read ``-self-bootstrap=<package image>`` and ``PKO_IMAGE_PREFIX_OVERRIDES``,
   rewrite the package image with the collection's PrefixMatcher in Package
   Operator's own matching mode, pull it and read ``package/``.
3. Apply the package's CRDs and wait for ``Established``, apply ClusterPackage
   ``package-operator``, then render the package's ``deploy/`` templates with
   each lock file image rewritten and pinned by digest, and apply them.
4. Write the status that the missing controllers would write: Job complete
   or failed, Deployment available or not, ClusterPackage conditions.
5. Delete finished Jobs after ``ttlSecondsAfterFinished`` like the
   TTL-after-finished controller, unless ``--keep-finished-jobs`` is given.

Registries are reached only on loopback addresses (127.0.0.0/8, ::1 and
localhost). A reference to any other host fails as unreachable without a
connection attempt, so a Job that still names quay.io fails as it would on
an air-gapped cluster.

Run it as ``python -m localenv.pko_controller --kubeconfig FILE`` with
``tests/`` on PYTHONPATH. Modules: ``pull`` (registry client), ``package``
(package contents and templates), ``status`` (Job parsing and status
documents), ``controller`` (the watch loop) and ``__main__`` (command line).
"""

import importlib.util
import os
import sys
import tempfile


def _ensure_collection_importable() -> None:
    """Make ``ansible_collections.pko.airgap`` importable outside pytest.

    The repository root is the collection root, so that import path exists
    only under a tree like ``<dir>/ansible_collections/pko/airgap``. Under
    pytest the root conftest.py builds one. A controller started as a plain
    process builds its own in the temp directory.
    """
    try:
        if importlib.util.find_spec("ansible_collections.pko.airgap") is not None:
            return
    except ModuleNotFoundError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    base = tempfile.mkdtemp(prefix="pko-controller-collections-")
    os.makedirs(os.path.join(base, "ansible_collections", "pko"))
    os.symlink(root, os.path.join(base, "ansible_collections", "pko", "airgap"))
    sys.path.insert(0, base)


_ensure_collection_importable()
