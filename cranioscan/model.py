"""``cranioscan.model``: the import path callers and the checks use for
``build_model`` (the hybrid ResNet50 + Transformer); the network itself lives
in :mod:`cranioscan.net.model`, re-exported here."""

from .net.model import *  # noqa: F401,F403
from .net.model import __all__  # noqa: F401
