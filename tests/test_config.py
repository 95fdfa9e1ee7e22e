"""Settings: experiment files, --set overrides, and the messages bad input gets."""

import pytest

from vitui.core.errors import ConfigError
from vitui.core.experiments import RunConfig, detected_device, experiment_names, resolve
from vitui.core.settings import parse_overrides


def test_every_experiment_resolves():
    names = experiment_names()
    assert {"mlp-mnist", "cnn-cifar10", "cnn-bn-cifar10"} <= set(names)
    for name in names:
        resolved = resolve(name)
        assert resolved.train.experiment == name
        assert RunConfig.from_dict(resolved.to_dict()).to_dict() == resolved.to_dict()


def test_overrides_are_typed_and_checked():
    run = resolve("cnn-bn-cifar10", {"epochs": "3", "lr": "0.01", "dropout_fc": "0.3", "optimizer": "nesterov",
                                          "compile": "false", "dataset": "fashion-mnist"})
    assert run.train.epochs == 3 and run.train.lr == 0.01 and run.train.optimizer == "nesterov"
    assert run.model_args.dropout_fc == 0.3 and run.train.dataset == "fashion-mnist"


@pytest.mark.parametrize("overrides, words", [
    ({"epochz": "3"}, ["unknown setting 'epochz'", "epochs"]),
    ({"epochs": "three"}, ["bad value for epochs", "whole number"]),
    ({"epochs": "0"}, ["bad value for epochs", "outside"]),
    ({"optimizer": "lion"}, ["bad value for optimizer", "adamw"]),
    ({"lr": "nan"}, ["bad value for lr"]),
    ({"model": "resnet"}, ["unknown model 'resnet'", "cnn-bn"]),
    ({"dataset": "imagenet"}, ["unknown dataset 'imagenet'", "imagefolder:PATH"]),
    ({"dataset": "imagefolder:/no/such/folder"}, ["/no/such/folder does not exist"]),
])
def test_bad_settings_say_what_is_wrong(overrides, words):
    with pytest.raises(ConfigError) as err:
        resolve("cnn-cifar10", overrides)
    for word in words:
        assert word in str(err.value)


def test_unknown_experiment_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown experiment 'nope'.*mlp-mnist"):
        resolve("nope")


def test_parse_overrides_rejects_missing_equals():
    assert parse_overrides(["a=1", "b = x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["lr"])


def test_switching_model_drops_arguments_it_does_not_take():
    run = resolve("mlp-mnist", {"model": "cnn"})
    assert run.task == "image" and run.model_args.dropout_fc == 0.5


def test_a_device_table_applies_on_its_device_and_overrides_still_win(tmp_path, monkeypatch):
    (tmp_path / "x.toml").write_text('model = "cnn"\ndataset = "mnist"\nbatch_size = 128\n\n'
                                     '[cuda]\nbatch_size = 1024\nlr = 0.004\n\n[cuda.model_args]\nwidth = 64\n')
    monkeypatch.setenv("VITUI_CONFIGS", str(tmp_path))
    assert resolve("x", {"device": "cpu"}).train.batch_size == 128
    on_gpu = resolve("x", {"device": "cuda"})
    assert on_gpu.train.batch_size == 1024 and on_gpu.train.lr == 0.004 and on_gpu.model_args.width == 64
    assert resolve("x", {"device": "cuda", "batch_size": "64"}).train.batch_size == 64
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU for this process: auto trains on the CPU
    assert detected_device() == "cpu" and resolve("x").train.batch_size == 128
    with pytest.raises(ConfigError, match="unknown setting 'batchsize'"):
        (tmp_path / "y.toml").write_text('model = "cnn"\ndataset = "mnist"\n[cuda]\nbatchsize = 1\n')
        resolve("y", {"device": "cuda"})


def test_compile_takes_the_old_true_and_false():
    assert resolve("cnn-cifar10", {"compile": "true"}).train.compile == "on"
    assert RunConfig.from_dict({**resolve("cnn-cifar10").to_dict(), "compile": False}).train.compile == "off"
    with pytest.raises(ConfigError, match="choose one of auto, on, off"):
        resolve("cnn-cifar10", {"compile": "sometimes"})
