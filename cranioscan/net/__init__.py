"""The network: ResNet50 stages -> Transformer encoder -> six sigmoids.

Architecture and layers only (losses and compiling are :mod:`cranioscan.train.losses`).

- :mod:`.model`: :func:`build_model` and the helpers that read, save or transfer a built model;
- :mod:`.layers`: the custom Keras layers (registered as serializable).
"""

from .model import build_model, load_model, save_for_inference

__all__ = ["build_model", "load_model", "save_for_inference"]
