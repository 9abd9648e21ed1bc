"""Training: slice cache and ``tf.data`` input, dataset adapters, trainers.

- :mod:`.pipeline`: the slice cache and the ``tf.data`` input pipeline;
- :mod:`.rsna`: the RSNA 2019 adapter (labels CSV, studies, splits);
- :mod:`.trainer`: the in-memory trainer behind ``train.py``;
- :mod:`.stream`: the streamed trainer (phantoms generated while training);
- :mod:`.runtime`: devices, precision, checkpoints.
"""
