"""Shared fixtures of the dashboard tests: a tiny model, run folders, app settings.

Session-scoped so the model is built and saved once per test session. The
tiny model (64 px input, one 32-wide encoder block) has the architecture of
the shipped one, so every page runs the real code paths in seconds; its
predictions mean nothing.
"""

import json
import os

import numpy as np
import pandas as pd
import pytest

from cranioscan.labels import CLASSES

# Plain helpers live in suite_support (importable by name from any test module;
# "conftest" itself is ambiguous beside tests/pacs/conftest.py).
from suite_support import TINY, synthetic_predictions, write_run  # noqa: E402,F401


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Folder with ``best_model.keras`` (tiny), ``model_card.json`` and ``validation_run/``."""
    import keras

    from cranioscan.net.model import build_model, save_for_inference

    folder = tmp_path_factory.mktemp("model")
    keras.utils.set_random_seed(0)
    save_for_inference(build_model(**TINY), folder / "best_model.keras")
    summary = write_run(folder / "validation_run", seed=1, separation=3.0, name="validation_run")
    card = {
        "name": "CranioScan tiny test model",
        "trained_on": "synthetic phantoms (cranioscan.phantom), no patient data",
        "synthetic": True,
        "intended_use": "Tests of the dashboard only.",
        "limitations": ["Random weights: its outputs mean nothing."],
        "training": {
            "command": "python train.py --data phantom --out runs/tiny", "epochs_run": 3,
            "epoch_minutes_total": 1.5, "hardware": "2 CPU cores, no GPU",
            "note": "Tiny fixture: three quick epochs.",
            "initialised_from": {"path": "model/best_model.keras", "sha256": "ab" * 32,
                                 "model_card": {"trained_on": "earlier phantoms"}},
        },
        "created": "2024-01-01T00:00:00Z",
        "metrics": {c: {k: summary["classes"][c][k] for k in ("auc", "auc_ci_low", "auc_ci_high")}
                    for c in CLASSES},
        "thresholds": {c: 0.5 for c in CLASSES},
        "held_out_evaluation": {
            "command": "python bench/evaluate_model.py", "data": "4 synthetic phantom studies",
            "auc": {c: 0.9 for c in CLASSES}, "auc_ci95": {c: [0.8, 0.95] for c in CLASSES},
            "positives": {c: 10 for c in CLASSES},
            "gradcam_peak_in_mask": {c: {"fraction_in_mask": 0.5, "n_in_mask": 5, "n_slices": 10}
                                     for c in CLASSES},
            "targets_met": {"auc_ge_0.95_every_class": False},
        },
        "localisation_sweep": {
            "command": "python bench/gradcam_layers.py", "data": "2 synthetic phantom studies",
            "dilate_mm": 5.0, "rows": [
                {"layer": "conv3_block4_out", "method": "gradcam++", "fraction_in_mask": 0.8,
                 "ci95": [0.6, 0.9], "places": {"lesion": 8, "air": 1, "bone": 0,
                                                "soft tissue": 1, "no peak": 0}}]},
    }
    (folder / "model_card.json").write_text(json.dumps(card, indent=1))
    return folder


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory):
    """A ``runs/`` folder with one more finished run (for the comparison)."""
    root = tmp_path_factory.mktemp("runs")
    write_run(root / "phantom_small", seed=2, separation=1.5, name="phantom_small")
    return root


@pytest.fixture(scope="session")
def app_env(tiny_model_dir, runs_root, tmp_path_factory):
    """Environment pointing the dashboard at the fixtures (set for the whole session)."""
    env = {
        "CRANIOSCAN_MODEL": str(tiny_model_dir / "best_model.keras"),
        "CRANIOSCAN_RUNS": os.pathsep.join([str(runs_root), str(tiny_model_dir / "validation_run")]),
        "CRANIOSCAN_CACHE": str(tmp_path_factory.mktemp("cache")),
        "CRANIOSCAN_MAX_UPLOAD_MB": "5",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


#: Fixtures that make a test slow: the whole app, a trained model on disk,
#: generated phantom studies written as DICOM, a tiny ResNet built per module.
SLOW_FIXTURES = {"app", "app_env", "server", "model_path", "worklist", "rsna_layout", "stream"}
#: Test modules that are slow as a whole (training end to end, held-out
#: evaluation and the localisation sweep, command-line subprocesses).
SLOW_MODULES = {"test_evaluation.py", "test_localisation.py", "test_cli_inspect.py",
                "test_cli_predict.py", "test_ui_runner.py"}


def pytest_collection_modifyitems(config, items):
    """Mark the slow tests (``-m "not slow"`` leaves them out); see pytest.ini."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


# ------------------------------------------------------------- no silent skips
#: Skips whose reason named a dependency given to ``--fail-on-skip`` (collection-level ones).
_FORBIDDEN_SKIPS = []


def pytest_addoption(parser):
    parser.addoption(
        "--fail-on-skip", action="append", default=[], metavar="WORD",
        help="a test skipped with a reason that names WORD (case-insensitive) fails instead: "
             "for the dependencies the caller installed (.ci/run: chromium, orthanc, "
             "playwright, ...), whose absence must not pass unnoticed")


def _skip_reason(report):
    """The reason of a skip report (not an xfail), or None."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    longrepr = report.longrepr
    reason = str(longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr)
    return reason.removeprefix("Skipped: ")


def _forbidden(config, reason):
    words = [w.lower() for w in config.getoption("fail_on_skip")]
    return reason is not None and any(w in reason.lower() for w in words)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test skipped for a dependency named by ``--fail-on-skip`` is reported as failed."""
    outcome = yield
    report = outcome.get_result()
    reason = _skip_reason(report)
    if _forbidden(item.config, reason):
        report.outcome = "failed"
        report.longrepr = (f"skipped for a dependency that should be installed here "
                           f"(--fail-on-skip): {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A module skipped at collection for such a dependency fails the session (see below)."""
    outcome = yield
    report = outcome.get_result()
    reason = _skip_reason(report)
    if _forbidden(collector.config, reason):
        _FORBIDDEN_SKIPS.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _FORBIDDEN_SKIPS:
        terminalreporter.section("skipped for a dependency that should be installed here",
                                 red=True)
        for line in _FORBIDDEN_SKIPS:
            terminalreporter.line(line)


def pytest_sessionfinish(session, exitstatus):
    if _FORBIDDEN_SKIPS and session.exitstatus == 0:
        session.exitstatus = 1
