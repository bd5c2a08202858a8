"""Shared fixtures. Installed third-party plugins never load by accident under pytest:
the plugin manager checks ``sys._called_from_test`` (set here), and tests that want
them set ``JPEGAI_EVAL_LOAD_PLUGINS`` explicitly."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def pytest_configure(config):
    sys._called_from_test = True  # type: ignore[attr-defined]
    # Keep per-test CPU use predictable on 2-core CI machines.
    os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_unconfigure(config):
    if hasattr(sys, "_called_from_test"):
        del sys._called_from_test


@pytest.fixture(autouse=True)
def _fresh_plugins(monkeypatch, tmp_path_factory):
    """Every test starts with a fresh process-wide plugin manager and its own cache."""
    from jpegai_eval.framework.api.plugins import reset_plugins

    monkeypatch.delenv("JPEGAI_EVAL_LOAD_PLUGINS", raising=False)
    monkeypatch.setenv("JPEGAI_EVAL_CACHE", str(tmp_path_factory.mktemp("cache")))
    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture
def console_script() -> str:
    """The installed ``jpegai-eval`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "jpegai-eval"
    found = str(script) if script.exists() else shutil.which("jpegai-eval")
    if not found:
        pytest.fail("the jpegai-eval console script is not installed: run `make venv`")
    return found
