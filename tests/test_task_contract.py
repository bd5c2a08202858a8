"""The task contract: required methods are abstract and checked when a plugin
registers a task; a task's declared options become `run`'s options and run.json's
task_options."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from jpegai_eval import hookimpl
from jpegai_eval.cli import cli
from jpegai_eval.framework.api.plugins import make_plugin_manager
from jpegai_eval.framework.api.registry import TaskRegistry
from jpegai_eval.framework.api.types import Sample, Task, TaskOption
from jpegai_eval.framework.errors import UsageError
from jpegai_eval.framework.run.plan import RunConfig, make_plan


class Complete(Task):
    id = "complete"
    options = (
        TaskOption("data_root", type="path", help="Where the data is."),
        TaskOption("scale", type=int, default=2, choices=(1, 2, 4), help="Down-scaling."),
    )

    @property
    def classes(self):
        return ("a", "b")

    def samples(self, split, **options):
        return [Sample(f"{split}.png", Path(f"{split}.png"), 0)]

    def build_classifier(self, domain, latent_spec=None):
        return None

    def train(self, model, items, *, preset, domain, out_dir, device, workers, seed):
        return None

    def eval_batch(self, sources, domain, preset):
        return None


class NoTraining(Task):
    """What a plugin author might write first: data, but no train or eval_batch."""

    id = "no-training"

    @property
    def classes(self):
        return ("a",)

    def samples(self, split, **options):
        return []

    def build_classifier(self, domain, latent_spec=None):
        return None


class TaskPlugin:
    def __init__(self, *tasks):
        self.tasks = tasks

    @hookimpl
    def register_tasks(self, register):
        for task in self.tasks:
            register(task)


def test_train_and_eval_batch_are_abstract():
    assert {"train", "eval_batch", "samples", "classes", "build_classifier"} <= set(
        Task.__abstractmethods__
    )
    with pytest.raises(TypeError, match="NoTraining") as err:
        NoTraining()
    assert "eval_batch" in str(err.value) and "train" in str(err.value)


def test_registry_names_the_plugin_and_the_missing_methods():
    registry = TaskRegistry()
    with pytest.raises(TypeError) as err:
        registry.add(NoTraining, "my-plugin")  # the class, not an instance
    message = str(err.value)
    assert "Plugin 'my-plugin' registered the class NoTraining" in message
    assert "register(NoTraining())" in message and "train, eval_batch" in message

    class Broken(Complete):
        id = "broken"
        train = None  # overridden with something that is not a method

    with pytest.raises(
        TypeError, match="Plugin 'my-plugin' registered task 'broken'.*without train"
    ):
        registry.add(Broken(), "my-plugin")

    class BadOption(Complete):
        id = "bad-option"
        options = ({"name": "data_root"},)

    with pytest.raises(TypeError, match="not all TaskOption instances"):
        registry.add(BadOption(), "my-plugin")
    registry.add(Complete(), "my-plugin")
    assert registry.get("complete").id == "complete"


def test_a_task_without_training_fails_when_plugins_load():
    """Before any dataset is listed or image encoded: accessing the registries fails."""
    plugins = make_plugin_manager(False)

    class LatePlugin:
        @hookimpl
        def register_tasks(self, register):
            register(NoTraining())

    plugins.pm.register(LatePlugin(), name="late-plugin")
    with pytest.raises(TypeError, match="abstract.*(eval_batch|train)"):
        plugins.tasks  # noqa: B018


def test_options_are_resolved_with_defaults_and_checked():
    task = Complete()
    assert task.resolve_options({}) == {"data_root": None, "scale": 2}
    assert task.resolve_options({"scale": "4", "data_root": Path("/d")}) == {
        "data_root": "/d",
        "scale": 4,
    }
    with pytest.raises(UsageError, match="--scale must be one of 1, 2, 4; got 3"):
        task.resolve_options({"scale": 3})
    with pytest.raises(UsageError, match="--scale takes a int; got 'x'"):
        task.resolve_options({"scale": "x"})
    with pytest.raises(UsageError, match="has no option --split; its options are --data-root"):
        task.resolve_options({"split": 1})
    assert TaskOption("split_number", flag="--split").flag == "--split"
    assert TaskOption("data_root").flag == "--data-root"
    with pytest.raises(ValueError, match="type must be"):
        TaskOption("x", type=list)


def test_plan_fills_in_defaults_so_the_fingerprint_does_not_depend_on_how_options_were_given():
    plugins = make_plugin_manager(False)
    plugins.pm.register(TaskPlugin(Complete()), name="complete-plugin")
    implicit = make_plan(RunConfig(codecs=["jpeg"], task="complete"), plugins).config
    explicit = make_plan(
        RunConfig(codecs=["jpeg"], task="complete", task_options={"scale": 2}), plugins
    ).config
    other = make_plan(
        RunConfig(codecs=["jpeg"], task="complete", task_options={"scale": 4}), plugins
    ).config
    assert implicit.task_options == {"data_root": None, "scale": 2}
    assert implicit.fingerprint() == explicit.fingerprint() != other.fingerprint()
    with pytest.raises(UsageError, match="Task 'complete' has no option --split"):
        make_plan(RunConfig(codecs=["jpeg"], task="complete", task_options={"split": 1}), plugins)


@pytest.fixture
def captured(monkeypatch):
    """`jpegai-eval run` up to the study: the RunConfig it builds."""
    from jpegai_eval.framework.run import evaluator

    configs: list[RunConfig] = []

    def fake_run_study(config, out_dir=None, force=False):
        configs.append(config)
        raise UsageError("stopped before the study")

    monkeypatch.setattr(evaluator, "run_study", fake_run_study)
    return configs


def test_run_builds_the_selected_tasks_options(captured, tmp_path):
    runner = CliRunner()
    args = ["run", "--codec", "jpeg", "--split", "3", "--task", "minc", "--data-root", "D"]
    result = runner.invoke(cli, args)  # --task after the task's options: still found
    assert "stopped before the study" in result.output, result.output
    assert captured[-1].task_options == {"split_number": 3, "data_root": "D"}
    result = runner.invoke(cli, ["run", "--codec", "jpeg", "--task=minc", "--dataset", "demo"])
    assert captured[-1].task_options == {"dataset": "demo"}  # defaults: the plan's to fill
    assert len(captured) == 2
    result = runner.invoke(cli, ["run", "--codec", "jpeg", "--task", "minc", "--split", "7"])
    assert result.exit_code == 2 and "'7' is not one of '1', '2', '3', '4', '5'" in result.output
    result = runner.invoke(cli, ["run", "--codec", "jpeg", "--split", "3"])
    assert result.exit_code == 2
    assert "--split is a dataset option of task minc; give the task too" in result.output
    result = runner.invoke(cli, ["run", "--codec", "jpeg", "--task", "minc", "--splt", "3"])
    assert result.exit_code == 2 and "Did you mean '--split'?" in result.output
    assert len(captured) == 2


def test_an_unknown_task_is_reported_by_the_plan_whatever_options_follow(tmp_path):
    out = tmp_path / "r"
    args = ["run", "--codec", "jpeg", "--task", "nope", "--split", "3", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "Unknown task: 'nope'. Known tasks: imagefolder, minc." in result.output
    assert not out.exists()


def test_run_help_shows_the_tasks_options():
    runner = CliRunner()
    general = runner.invoke(cli, ["run", "--help"]).output
    assert "Dataset options of each task" in general
    assert "minc" in general and "imagefolder" in general and "--split" in general
    minc = runner.invoke(cli, ["run", "--task", "minc", "--help"]).output
    assert "--split [1|2|3|4|5]" in minc and "[default: 1]" in minc
    assert "--dataset [minc|demo]" in minc and "Dataset options of each task" not in minc
    folder = runner.invoke(cli, ["run", "--task", "imagefolder", "--help"]).output
    assert "--data-root" in folder and "--split" not in folder


def test_a_plugin_task_option_that_clashes_with_run_is_refused(monkeypatch):
    from jpegai_eval.framework.api import plugins as plugins_module

    class Clash(Complete):
        id = "clash"
        options = (TaskOption("seed", type=int, default=0),)

    loaded = make_plugin_manager(False)
    loaded.pm.register(TaskPlugin(Clash()), name="clash-plugin")
    monkeypatch.setattr(plugins_module, "_default", loaded)
    result = CliRunner().invoke(cli, ["run", "--codec", "jpeg", "--task", "clash"])
    assert result.exit_code == 2
    assert "Task 'clash' declares --seed, which `run` already has" in result.output


class Recording(Complete):
    """A task to the current contract that records what the framework gives it."""

    def build_classifier(self, domain, latent_spec=None, *, preset=None):
        return ("built", domain, latent_spec, preset)

    def train(self, model, items, **given):
        return given

    def init_classifier(self, model, imagenet_weights=None, *, domain):
        return ("init", imagenet_weights, domain)


TRAIN_ARGS = dict(preset="smoke", domain="latent", out_dir=Path("o"), device="cpu", workers=0)


def test_the_framework_gives_every_argument_of_the_contract():
    task = Recording()
    assert task.classifier_for("pixel", None, "quick") == ("built", "pixel", None, "quick")
    assert task.init_for("m", "w.pt", "latent") == ("init", "w.pt", "latent")
    given = task.train_for(None, [], **TRAIN_ARGS, seed=3, ddp=True, deterministic=False)
    assert given == {**TRAIN_ARGS, "seed": 3, "ddp": True, "deterministic": False}


def test_a_task_to_the_old_contract_still_runs_with_a_deprecation_warning():
    task = Complete()  # build_classifier(domain, latent_spec); train without ddp
    with pytest.warns(DeprecationWarning, match=r"build_classifier\(\) does not take preset"):
        assert task.classifier_for("pixel", None, "quick") is None
    with pytest.warns(DeprecationWarning, match=r"train\(\) does not take ddp, deterministic"):
        assert task.train_for(None, [], **TRAIN_ARGS, seed=0, ddp=False, deterministic=None) is None

    class OldInit(Complete):
        def init_classifier(self, model, imagenet_weights=None):
            return "guessed"

    with pytest.warns(DeprecationWarning, match="does not take domain"):
        assert OldInit().init_for("m", None, "pixel") == "guessed"


def test_an_old_task_given_what_it_cannot_take_is_one_usage_error():
    from jpegai_eval.framework.errors import UsageError

    with pytest.raises(UsageError, match=r"Complete\.train\(\) refuses the arguments") as err:
        Complete().train_for(None, [], **TRAIN_ARGS, seed=0, ddp=True, deterministic=None)
    assert "ddp" in err.value.message and "'complete'" in err.value.message


def test_a_type_error_inside_the_task_is_not_taken_for_an_old_contract():
    class Broken(Complete):
        def build_classifier(self, domain, latent_spec=None):
            raise TypeError("a bug inside the task")

    with pytest.raises(TypeError, match="a bug inside the task"):
        Broken().classifier_for("pixel", None, "quick")
