"""Where the network looked: class activation maps and attention rollout.

Every map is a float32 array in [0, 1] aligned with the slice it explains
(drawing is :mod:`cranioscan.visualize.overlay`'s job). Functions take a
:class:`cranioscan.inference.Predictor`.

- :mod:`.cam`: Grad-CAM, Grad-CAM++ and Score-CAM, the default layer;
- :mod:`.engines`: their caches and the compiled / tf-keras-vis engines;
- :mod:`.rollout`: transformer attention rollout and the attention model;
- :mod:`.grid`: where the cells of a feature map sit on the model input;
- :mod:`.scoring`: a map's peak and whether it lands in a lesion.
"""

from .cam import *  # noqa: F401,F403
from .cam import __all__ as _cam_all
from .rollout import attention_inputs, attention_map
from .scoring import head_mask, peak, peak_in_mask, peak_note, peak_place, peak_tissue

__all__ = [*_cam_all, "attention_inputs", "attention_map", "peak", "peak_in_mask",
           "peak_place", "peak_tissue", "peak_note", "head_mask"]
