"""The ``JPEGAI_EVAL_*`` environment variables (issue 28, item 7): typed, checked before
any work, unknown names warned about, one list behind the readers and the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from jpegai_eval.cli import cli
from jpegai_eval.framework import settings
from jpegai_eval.framework.settings import SettingError, check_environment, value

ROOT = Path(__file__).resolve().parents[1]


def invoke(args, env):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=True)


def assert_setting_error(result, name: str, text: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    error = result.output[result.output.index("Error:") :]
    assert f"{name}={text!r}" in error, error  # the variable and its value
    assert f"unset {name}" in error, error  # and the fix


@pytest.mark.parametrize(
    ("name", "text"),
    [("JPEGAI_EVAL_MAX_PIXELS", "abc"), ("JPEGAI_EVAL_PROGRESS_SECONDS", "abc")],
)
def test_a_bad_value_stops_run_before_any_work(tmp_path, name, text):
    """Before: MAX_PIXELS=abc encoded every image and then blamed the images;
    PROGRESS_SECONDS=abc was silently ignored. Now the run stops before reading the
    dataset (a dataset that does not exist is not even looked at) or making --out."""
    out = tmp_path / "run"
    args = ["run", "--codec", "jpeg", "--task", "minc", "--data-root", tmp_path / "none"]
    result = invoke([*args, "--out", out], env={name: text})
    assert_setting_error(result, name, text)
    assert "--data-root" not in result.output
    assert not out.exists()


def test_a_bad_value_stops_codec_commands(tmp_path):
    result = invoke(
        ["codec", "encode", "--codec", "jpeg", "--quality", "4", tmp_path / "in.png", "o.jai"],
        env={"JPEGAI_EVAL_MAX_PIXELS": "-5"},
    )
    assert_setting_error(result, "JPEGAI_EVAL_MAX_PIXELS", "-5")
    assert "not found" not in result.output  # the image is not looked at first


def test_an_unknown_name_is_warned_about_with_the_nearest_setting():
    result = invoke(["plugins"], env={"JPEGAI_EVAL_PROGRES_SECONDS": "5"})
    assert result.exit_code == 0, result.output
    assert (
        "Environment variable JPEGAI_EVAL_PROGRES_SECONDS is not a jpegai-eval setting"
        in result.stderr
    )
    assert "did you mean JPEGAI_EVAL_PROGRESS_SECONDS?" in result.stderr
    far = check_environment({"JPEGAI_EVAL_XYZZY": "1"})
    assert len(far) == 1 and "JPEGAI_EVAL_MAX_PIXELS" in far[0]  # no near name: all listed


def test_values_are_typed():
    env = {
        "JPEGAI_EVAL_MAX_PIXELS": " 1_000 ",
        "JPEGAI_EVAL_PROGRESS_SECONDS": "0.5",
        "JPEGAI_EVAL_OFFLINE": "yes",
        "JPEGAI_EVAL_LOAD_PLUGINS": "a, b,,",
        "JPEGAI_EVAL_CACHE": "~/x",
        "JPEGAI_EVAL_START_METHOD": "spawn",
    }
    assert value("JPEGAI_EVAL_MAX_PIXELS", env) == 1000
    assert value("JPEGAI_EVAL_PROGRESS_SECONDS", env) == 0.5
    assert value("JPEGAI_EVAL_OFFLINE", env) is True
    assert value("JPEGAI_EVAL_OFFLINE", {"JPEGAI_EVAL_OFFLINE": "0"}) is False
    assert value("JPEGAI_EVAL_LOAD_PLUGINS", env) == ("a", "b")
    assert value("JPEGAI_EVAL_CACHE", env) == str(Path.home() / "x")
    assert value("JPEGAI_EVAL_START_METHOD", env) == "spawn"
    assert value("JPEGAI_EVAL_MAX_PIXELS", {}) is None
    assert check_environment(env) == []
    bad = {
        "JPEGAI_EVAL_MAX_PIXELS": "0",
        "JPEGAI_EVAL_PROGRESS_SECONDS": "nan",
        "JPEGAI_EVAL_OFFLINE": "maybe",
        "JPEGAI_EVAL_START_METHOD": "thread",
        "JPEGAI_EVAL_MINC_URL": "ftp.example.org/minc",
        "JPEGAI_EVAL_TFC_TENSORS": "y_hat",
    }
    for name, text in bad.items():
        with pytest.raises(SettingError, match=re.escape(f"{name}={text!r}")):
            value(name, {name: text})
    with pytest.raises(SettingError) as every:
        check_environment(bad)  # all bad values in one error
    assert all(name in every.value.message for name in bad)


def test_every_variable_the_package_reads_is_a_setting():
    used = set()
    for path in (ROOT / "jpegai_eval").rglob("*.py"):
        used |= set(re.findall(r"JPEGAI_EVAL_[A-Z][A-Z_]*[A-Z]", path.read_text()))
    names = {s.name for s in settings.SETTINGS}
    assert used <= names, used - names
    assert not re.search(r"os\.environ(\.get)?[\[(]\s*\"JPEGAI_EVAL_", _sources())


def _sources() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "jpegai_eval").rglob("*.py"))


def test_the_readme_table_is_the_list():
    assert settings.markdown_table() in (ROOT / "README.md").read_text()
