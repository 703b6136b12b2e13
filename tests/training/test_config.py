import pytest

from wsshm_rt.errors import WsshmError
from wsshm_rt.training.config import load_yaml, resolve_config, save_config


def test_precedence(tmp_path):
    assert resolve_config("pretrain").lr == 1e-4 and resolve_config("pretrain").iters == 200_000
    cfg = resolve_config("teacher")
    assert (cfg.lr, cfg.iters, cfg.batch_size, cfg.bnd_weight, cfg.ema_momentum) == (5e-5, 10_000, 16, 0.01, 0.999)
    y = tmp_path / "c.yaml"
    y.write_text("iters: 7\nlr: 0.001\ncrop_min: 96\n")
    cfg = resolve_config("student", "small", y, {"lr": 0.5, "seed": None})
    assert (cfg.iters, cfg.lr, cfg.crop_min, cfg.batch_size, cfg.seed) == (7, 0.5, 96, 4, 0)


def test_saved_yaml_round_trips(tmp_path):
    cfg = resolve_config("student", overrides={"band_px": 4})
    save_config(cfg, tmp_path / "config.yaml")
    assert resolve_config("student", yaml_path=tmp_path / "config.yaml") == cfg
    assert load_yaml(tmp_path / "config.yaml")["band_px"] == 4


@pytest.mark.parametrize("bad", [{"nope": 1}, {"iters": "many"}, {"flip": "yes"}, {"crop_min": 8}, {"save_every": 0},
                                 {"val_short_side": 16}])
def test_bad_values_are_user_errors(bad):
    with pytest.raises(WsshmError):
        resolve_config("pretrain", overrides=bad)


@pytest.mark.parametrize("text, message", [("lr: [1\n", "is not valid YAML"), ("- lr\n", "must hold a mapping"),
                                           (b"\xff\xfe lr: 1", "is not valid YAML")])
def test_a_broken_config_file_is_one_sentence(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(WsshmError, match=f"config file {path} {message}"):
        resolve_config("pretrain", yaml_path=path)
