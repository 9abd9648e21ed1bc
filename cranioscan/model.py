"""``cranioscan.model``, the model's contract path (see DESIGN.md): the network
itself lives in :mod:`cranioscan.net.model`; this name stays for callers."""

from .net.model import *  # noqa: F401,F403
from .net.model import __all__  # noqa: F401
