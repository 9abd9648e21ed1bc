"""Where the network looked: class activation maps and attention rollout.

Every map is a float32 array aligned with the slice it explains; drawing is
:mod:`cranioscan.ui.overlay`'s job.

- :mod:`.cam`: Grad-CAM, Grad-CAM++ and Score-CAM engines, the default layer;
- :mod:`.rollout`: transformer attention rollout;
- :mod:`.grid`: where the cells of a feature map sit on the model input.
"""

from .cam import *  # noqa: F401,F403
from .cam import __all__  # noqa: F401
