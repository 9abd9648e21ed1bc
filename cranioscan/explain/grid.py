"""Where the cells of a feature map sit on the model input.

Cell ``i`` of a convolutional feature map summarises the input around one
pixel, the centre of its receptive field. That pixel follows from the kernels,
strides and paddings on the way from the input, and it is not always the
centre of the ``stride``-wide block a plain resize assumes
(``stride * i + (stride - 1) / 2``). Keras' ResNet50 pads before its strided
7x7 convolution and max-pool and puts every stage's stride in a 1x1
convolution, so cell ``i`` of any stage output is centred on input pixel
``stride * i``: at stage 4 (stride 16) a map resized as if cells were centred
on their blocks lands 7.5 input pixels down and right of where the network
looked (about 15 mm on a 25 cm field of view at 128 pixels).

``grid_geometry`` walks the layers from the input to a feature layer and
composes that mapping; ``cranioscan.preprocess.grid_to_input`` uses it to
place a map on the input's pixels.
"""

__all__ = ["grid_geometry"]

import math

from ..preprocess import block_centres


def _first_input(layer):
    """The tensor at ``layer``'s first input (None at the model input)."""
    nodes = getattr(layer, "_inbound_nodes", None)
    if not nodes or not nodes[0].input_tensors:
        return None
    return nodes[0].input_tensors[0]


def _first_inbound_layer(layer):
    """The layer feeding ``layer``'s first input (None at the model input)."""
    tensor = _first_input(layer)
    return None if tensor is None else tensor._keras_history.operation


def _spatial(tensor):
    """``(h, w)`` of a 4-D tensor, else None."""
    shape = None if tensor is None else tuple(tensor.shape)
    return shape[1:3] if shape is not None and len(shape) == 4 else None


def _chain_from_input(model, layer_name):
    """Layers from the model input to ``layer_name`` along first inputs."""
    chain = []
    layer = model.get_layer(layer_name)
    while layer is not None:
        chain.append(layer)
        layer = _first_inbound_layer(layer)
    return chain[::-1]


def _pairs(value):
    """``(rows, cols)`` from an int or a pair (kernel sizes, strides)."""
    if isinstance(value, int):
        return value, value
    return tuple(int(v) for v in value)


def _padding_before(layer):
    """``(top, left)`` of a ZeroPadding2D layer."""
    padding = layer.padding
    if isinstance(padding, int):
        return padding, padding
    return tuple(p if isinstance(p, int) else p[0] for p in padding)


def _window_step(layer):
    """``(kernel, stride, before)`` per axis for a sliding-window layer, else None.

    ``before`` is the implicit padding before the first pixel ('same' pads
    as TensorFlow does: the odd pixel goes after).
    """
    import keras

    if isinstance(layer, keras.layers.Conv2D):
        kernel, dilation = _pairs(layer.kernel_size), _pairs(layer.dilation_rate)
        kernel = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        kernel = _pairs(layer.pool_size)
    else:
        return None
    strides = _pairs(layer.strides)
    if layer.padding == "valid":
        return tuple((k, s, 0) for k, s in zip(kernel, strides))
    size_in = _spatial(_first_input(layer))
    steps = []
    for k, s, n in zip(kernel, strides, size_in):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        steps.append((k, s, total // 2))
    return tuple(steps)


def grid_geometry(model, layer_name):
    """Receptive-field centres of a 4-D layer's cells, in input pixels.

    Args:
        model: a functional ``keras.Model`` (one input).
        layer_name: a layer giving ``(n, h, w, c)``.

    Returns:
        ``((row_origin, row_stride), (col_origin, col_stride))``: cell
        ``(i, j)`` is centred on input pixel ``(row_origin + row_stride * i,
        col_origin + col_stride * j)`` (pixel centres at integers).
        Layers the walk does not know (anything else that changes the
        spatial size) make it fall back to the block-centre convention
        ``origin = (stride - 1) / 2`` with ``stride = input / grid``.
    """
    import keras

    axes = [[0.0, 1.0], [0.0, 1.0]]  # per axis: origin, stride of the current map
    for layer in _chain_from_input(model, layer_name):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.ZeroPadding2D):
            for axis, before in zip(axes, _padding_before(layer)):
                axis[0] -= axis[1] * before
            continue
        steps = _window_step(layer)
        if steps is not None:
            for axis, (kernel, stride, before) in zip(axes, steps):
                axis[0] += axis[1] * ((kernel - 1) / 2.0 - before)
                axis[1] *= stride
            continue
        if _spatial(_first_input(layer)) != _spatial(layer.output):
            return _block_centres(model, layer_name)
    return tuple((float(origin), float(stride)) for origin, stride in axes)


def _block_centres(model, layer_name):
    size_in = model.inputs[0].shape[1:3]
    size_out = model.get_layer(layer_name).output.shape[1:3]
    return tuple(block_centres(n_in, n_out) for n_in, n_out in zip(size_in, size_out))
