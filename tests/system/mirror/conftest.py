# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# pytest finds fixtures by their names in conftest.py, hence the star imports.
# pylint: disable=wildcard-import,unused-wildcard-import
from localenv.pytest_registry import *  # noqa: F401,F403
