"""The network: ResNet50 stages -> Transformer encoder -> six sigmoids.

- :mod:`.model`: :func:`build_model` and the helpers that read or save a built model;
- :mod:`.layers`: the custom Keras layers (registered as serializable).
"""
