"""The streamed trainer's step, compiled against op by op, in one run.

    KERAS_BACKEND=jax python bench/bench_train_step.py [--size 64] [--batch-size 16]
        [--steps 10] [--d-model 32] [--depth 1] [--stage 4]

``stream_trainer.training_model`` wraps the network with the augmentation
layers. Keras marks its random rotation, zoom and translation layers as not
compilable (TensorFlow's XLA cannot compile their transform), which switched
compilation off for the whole step; on JAX the wrapper now marks them
compilable. This times ``--steps`` training steps on random uint8 batches
both ways, after one warm-up call each (which holds the compile), and prints
ms per step and the ratio. The defaults are a small model for a CPU; on a GPU
use ``--size 224 --batch-size 128 --d-model 256 --depth 4``.

On TensorFlow only the op-by-op step runs: its XLA cannot compile the
augmentation, so the trainer leaves the step uncompiled there by design.
"""

import argparse
import sys
import time

import numpy as np



def _ms_per_step(wrapper, x, y, batch_size, steps):
    wrapper.fit(x[:batch_size], y[:batch_size], batch_size=batch_size, epochs=1, verbose=0)
    start = time.perf_counter()
    wrapper.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return (time.perf_counter() - start) * 1000.0 / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64, help="input side (default: 64)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch (default: 16)")
    parser.add_argument("--steps", type=int, default=10, help="steps timed (default: 10)")
    parser.add_argument("--d-model", type=int, default=32, help="default: 32")
    parser.add_argument("--depth", type=int, default=1, help="encoder blocks (default: 1)")
    parser.add_argument("--stage", type=int, default=4, help="ResNet cut (default: 4)")
    args = parser.parse_args(argv)

    import keras

    from cranioscan.net import model as model_lib
    from cranioscan.train import losses, pipeline
    from cranioscan.train.stream import training_model

    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    n = args.batch_size * args.steps
    x = rng.integers(0, 256, (n, args.size, args.size, 3), dtype=np.uint8)
    y = (rng.random((n, 6)) < 0.3).astype(np.float32)
    timings = {}
    for compiled in ((False, True) if backend == "jax" else (False,)):
        keras.utils.set_random_seed(0)
        net = model_lib.build_model(input_size=args.size, stage=args.stage,
                                    d_model=args.d_model, depth=args.depth, num_heads=2,
                                    mlp_dim=2 * args.d_model, weights=None)
        # The op-by-op baseline is what the wrapper was before: built as on TensorFlow.
        wrapper = training_model(net, pipeline.make_augmenter(0),
                                 backend=backend if compiled else "tensorflow")
        losses.compile_model(wrapper)
        assert bool(wrapper.jit_compile) == compiled, wrapper.jit_compile
        timings[compiled] = _ms_per_step(wrapper, x, y, args.batch_size, args.steps)
        print(f"{backend}, {'compiled' if compiled else 'op by op'}: "
              f"{timings[compiled]:8.1f} ms per step of {args.batch_size} at {args.size} px")
    if True in timings:
        print(f"op by op / compiled: {timings[False] / timings[True]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
