"""A quiet terminal for the command line: TensorFlow's start-up noise kept off it.

Importing TensorFlow writes a dozen lines to the process's stderr from C++
(oneDNN, CUDA probing, CPU features, "All log messages before
absl::InitializeLog() ..."), below Python, so neither ``warnings`` nor
``logging`` can stop them. :func:`import_tensorflow_quietly` imports it with
file descriptor 2 pointed at a temporary file, and shows what was captured
only when the import fails; it also raises TensorFlow's C++ log threshold
(``TF_CPP_MIN_LOG_LEVEL``, unless the user set it) and sets absl's and
TensorFlow's Python loggers to errors only.
"""

__all__ = ["captured_stderr", "import_tensorflow_quietly"]

import contextlib
import logging
import os
import sys
import tempfile


@contextlib.contextmanager
def captured_stderr():
    """Point file descriptor 2 at a temporary file; yield a function returning its text."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lambda: (sink.seek(0), sink.read().decode("utf-8", "replace"))[1]
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly():
    """Import TensorFlow and Keras without their start-up lines on the terminal.

    Idempotent. When the import fails, what TensorFlow wrote is printed to
    stderr before the exception propagates, so nothing useful is lost.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # no GPU is used by the command line; without this TensorFlow probes CUDA and logs cuInit errors
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    if "tensorflow" not in sys.modules:
        error = None
        with captured_stderr() as text:
            try:
                import keras  # noqa: F401
                import tensorflow

                # The device probe logs at ERROR level ("failed call to cuInit"), which a
                # user's TF_CPP_MIN_LOG_LEVEL=2 lets through: run it here, captured, not at
                # the first model load.
                tensorflow.config.list_physical_devices()
            except BaseException as exc:  # shown with what TensorFlow wrote, then re-raised
                error, captured = exc, text()
        if error is not None:
            sys.stderr.write(captured)
            raise error
    for name in ("absl", "tensorflow", "keras"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
