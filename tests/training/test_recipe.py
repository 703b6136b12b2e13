"""Recipes (training.recipe, `wsshm-rt train recipe`): the repository's recipes resolve to the commands their
round scripts ran, and the default model's recipe runs end to end (small, on tiny generated data) into one file."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wsshm_rt.cli import main  # noqa: E402
from wsshm_rt.errors import WsshmError  # noqa: E402
from wsshm_rt.training.recipe import describe, load_recipe  # noqa: E402
from wsshm_rt.weights import load_weights  # noqa: E402

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def run_cli(*args):
    try:
        main(list(args))
    except SystemExit as exc:  # typer's standalone mode exits 0 on success
        assert exc.code in (0, None), exc.code


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_every_recipe_resolves(recipe):
    lines = describe(load_recipe(RECIPES / recipe))
    assert lines and all(line.startswith(("wsshm-rt ", "python -m wsshm_rt")) for line in lines)


def test_default_recipe_is_the_round_one_script():
    """recipes/default-cpu.yaml gives the commands scripts/train-default-cpu.sh ran (flags that differ from the
    stage defaults), and --set changes a var everywhere it is used."""
    lines = describe(load_recipe(RECIPES / "default-cpu.yaml", {"data": "D", "runs": "R", "pre_iters": 1800}))
    assert lines[0] == ("wsshm-rt train pretrain --model r18-0.5 --seg D/portrait-seg/train --out R/pre --iters 1800 "
                        "--batch-size 8 --lr 0.0007 --min-lr 1e-05 --crop-min 160 --crop-max 224 --workers 1 "
                        "--val-every 250 --val-limit 100 --val-short-side 320 --save-every 100 --no-progress")
    assert "--init R/pre/last --out R/teacher --iters 600 " in lines[1]
    assert "--teacher R/teacher/last --out R/student --iters 1500 " in lines[2]
    assert lines[3].startswith("python -m wsshm_rt.export.bundle R/student/best --short-side 320 ")
    mix = describe(load_recipe(RECIPES / "default-cpu-round2.yaml", only=["student-mix"]))
    assert len(mix) == 1 and "--init runs/r2/student-mlb-1300.safetensors " in mix[0] and "--matte-mix 0.5" in mix[0]


def test_recipe_mistakes_are_one_sentence(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("vars: {a: 1}\nsteps:\n  - train: teacher\n    iters: ${b}\n")
    with pytest.raises(WsshmError, match=r"uses \$\{b\}, which is not among its vars"):
        load_recipe(bad)
    with pytest.raises(WsshmError, match="not a var of .* nor a config option"):
        load_recipe(RECIPES / "default-cpu.yaml", {"dta": "x"})
    with pytest.raises(WsshmError, match="--only mix: .* has the steps teacher, student, student-mix"):
        load_recipe(RECIPES / "default-cpu-round2.yaml", only=["mix"])
    bad.write_text("steps: [{train: ${x}]\n")
    with pytest.raises(WsshmError, match="is not valid YAML"):
        load_recipe(bad)
    bad.write_text("steps:\n  - train: teacher\n    iters: -3\n")
    with pytest.raises(WsshmError, match="must be positive"):  # every config is checked before anything runs
        load_recipe(bad)


@pytest.mark.slow
def test_default_recipe_runs_end_to_end(tiny_data, tmp_path, capsys):
    """`wsshm-rt train recipe recipes/default-cpu.yaml --preset small` on tiny data: three stages, then one bundle
    file whose weights are the student's best, rounded to fp16."""
    torch.set_num_threads(1)
    args = ["train", "recipe", str(RECIPES / "default-cpu.yaml"), "--preset", "small",
            "--set", f"runs={tmp_path}/runs", "--set", f"assets={tmp_path}/assets"]
    for name, value in (("iters", 2), ("crop_min", 64), ("crop_max", 64), ("batch_size", 2), ("workers", 0),
                        ("val_short_side", 64), ("val_limit", 2), ("device", "cpu")):
        args += ["--set", f"{name}={value}"]
    # The recipe names data/portrait-seg/train etc.: the tiny folders, linked under those names.
    data = tmp_path / "data"
    for sub, key in (("portrait-seg", "seg"), ("portrait-matte", "matte"), ("backgrounds", "bg")):
        (data / sub).mkdir(parents=True)
        (data / sub / "train").symlink_to(tiny_data[key], target_is_directory=True)
    run_cli(*args, "--set", f"data={data}")
    steps = [line for line in capsys.readouterr().err.splitlines() if line.startswith("wsshm-rt recipe:")]
    # Each train step: its command, then where its weights went.
    assert [line.split(":")[1].strip() for line in steps] == ["pre", "pre", "teacher", "teacher", "student",
                                                               "student", "bundle-4"]
    assert f"trained student steps 1-2; weights in {tmp_path}/runs/student" in steps[5]
    for stage in ("pre", "teacher", "student"):
        assert load_weights(tmp_path / "runs" / stage / "last")[1]["step"] == "2"
    bundled = sorted((tmp_path / "assets").iterdir())
    assert [p.name for p in bundled] == ["wsshm-r18-0.5.onnx"]
    got, meta = load_weights(bundled[0])
    best, _ = load_weights(tmp_path / "runs" / "student" / "best")
    key = "decoder.0.conv.0.weight"
    assert np.array_equal(got[key].float().numpy(), best[key].half().float().numpy())
    assert meta["short_side"] == "320" and "recipes/default-cpu.yaml" in meta["note"]


def test_help_shows_each_stages_own_defaults(capsys, monkeypatch):
    """The "[default: ...]" text survives rich's markup, and is the stage's: the teacher trains 10000 steps."""
    monkeypatch.setenv("COLUMNS", "250")
    shown = {}
    for stage in ("pretrain", "teacher"):
        run_cli("train", stage, "--help")
        out = capsys.readouterr().out
        shown[stage] = [line for line in out.splitlines() if "--iters " in line or "--lr " in line]
    assert "[default: 200000]" in shown["pretrain"][0] and "[default: 0.0001]" in shown["pretrain"][1]
    assert "[default: 10000]" in shown["teacher"][0] and "[default: 5e-05]" in shown["teacher"][1]


def test_a_var_given_with_set_beats_the_preset_and_the_recipe_values_do_not(tmp_path):
    """--preset small replaces a recipe's sizes and step counts, except a field whose var the user gave with --set
    (in the step or in common) and a config field given with --set."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("vars: {n: 50, every: 25}\ncommon: {seg: x, val_limit: 4, val_every: '${every}'}\n"
                      "steps:\n  - train: pretrain\n    name: pre\n    iters: ${n}\n    workers: 0\n")

    def cfg(sets, preset="small"):
        return load_recipe(recipe, sets, preset)[0].spec["config"]

    plain = cfg({})
    assert (plain.iters, plain.val_every, plain.val_limit, plain.workers) == (300, 100, 20, 2)  # the preset's
    told = cfg({"n": 20, "every": 5, "batch_size": 3})
    assert (told.iters, told.val_every, told.val_limit, told.batch_size) == (20, 5, 20, 3)
    assert cfg({"n": 20}, None).iters == 20 and cfg({}, None).workers == 0


def test_an_average_step(tmp_path):
    from wsshm_rt.training.recipe import run_recipe

    from .test_average import save_tiny

    save_tiny(tmp_path / "a.safetensors", 1.0, 1), save_tiny(tmp_path / "b.safetensors", 4.0, 1)
    recipe = tmp_path / "soup.yaml"
    recipe.write_text("vars: {dir: x}\nsteps:\n  - average: ['${dir}/a.safetensors', '${dir}/b.safetensors']\n"
                      "    weights: [2, 1]\n    out: ${dir}/soup.safetensors\n")
    lines = []
    run_recipe(recipe, {"dir": str(tmp_path)}, echo=lines.append)
    assert lines == [f"wsshm-rt recipe: average-1: wsshm-rt average {tmp_path}/a.safetensors {tmp_path}/b.safetensors "
                     f"--weights 2,1 -o {tmp_path}/soup.safetensors"]
    assert torch.equal(load_weights(tmp_path / "soup.safetensors")[0]["1.running_mean"], torch.full((2,), 2.0))
    recipe.write_text("steps:\n  - average: [a.safetensors, b.safetensors]\n    modules: {'1': [0, 1]}\n"
                      f"    out: {tmp_path}/mix.safetensors\n")
    lines = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        run_recipe(recipe, echo=lines.append)
    assert lines[0].endswith("wsshm-rt average a.safetensors b.safetensors --module 1=0,1 -o "
                             f"{tmp_path}/mix.safetensors")
    mix = load_weights(tmp_path / "mix.safetensors")[0]
    assert torch.equal(mix["1.running_mean"], torch.full((2,), 4.0))
    assert torch.equal(mix["0.bias"], torch.full((2,), 2.5))
    recipe.write_text("steps:\n  - average: [a.safetensors, b.safetensors]\n    modules: {'1': 3}\n    out: y.onnx\n")
    with pytest.raises(WsshmError, match="'modules' maps module names to lists of weights"):
        run_recipe(recipe, echo=lines.append)


def test_a_pseudo_label_step_labels_once_then_resumes(tiny_data, tmp_path):
    """A self-training round in one recipe: a pseudo_label step labels a folder for the next train step's --pseudo
    (which resolves before the folder exists) with a run's weights named as train steps name them (runs/x/last);
    run again it skips, but labels anew (no stale pair left) when the options, the weights' bytes or the photos
    change; a mistyped or wrongly typed option is one sentence before anything runs."""
    import json

    from conftest import all_person_model
    from wsshm_rt.training.data import find_pairs
    from wsshm_rt.training.recipe import run_recipe
    from wsshm_rt.weights import save_weights

    # A teacher sure of every pixel, so that photos are kept whatever the bundled model makes of tiny synthetic ones.
    state, meta = load_weights(all_person_model(tmp_path / "teacher" / "last.safetensors"))
    recipe = tmp_path / "round.yaml"
    recipe.write_text(
        "vars: {runs: x, photos: x, model: x}\n"
        "steps:\n"
        "  - pseudo_label: ${photos}\n    name: label\n    models: ['${model}']\n"
        "    short_side: 64\n    tta: none\n    low: 0.45\n    high: 0.55\n    max_unsure: 1.0\n"
        "  - train: student\n    name: student\n    seg: ${photos}\n    pseudo: ['${runs}/label']\n"
        "    teacher: ${model}\n")
    out = tmp_path / "runs" / "label"
    sets = {"runs": str(tmp_path / "runs"), "photos": str(tiny_data["seg"] / "images"),
            "model": str(tmp_path / "teacher" / "last")}
    lines = describe(load_recipe(recipe, sets))
    assert lines[0] == (f"wsshm-rt pseudo-label {sets['photos']} -o {out} -m {sets['model']} "
                        "--short-side 64 --tta none --low 0.45 --high 0.55 --max-unsure 1.0")
    assert f"--pseudo {out} " in lines[1]

    def label(**changes):
        said = []
        run_recipe(recipe, {**sets, **changes}, only=["label"], echo=said.append)
        assert said[0].startswith("wsshm-rt recipe: label: wsshm-rt pseudo-label ")
        summary = json.loads((out / "pseudo.json").read_text())
        assert summary["kept"] == len(list((out / "masks").iterdir())) == len(find_pairs(out, "segmentation")) > 0
        return said[-1]

    assert label().endswith("left out as unsure")
    assert label().endswith("already holds these labels; skipped")
    recipe.write_text(recipe.read_text().replace("low: 0.45", "low: 0.4"))
    assert label().endswith("left out as unsure")
    state["head.bias"] = state["head.bias"] + 0.5  # the same name, other weights
    save_weights(state, tmp_path / "teacher" / "last.safetensors", meta)
    assert label().endswith("left out as unsure")
    few = tmp_path / "few"
    few.mkdir()
    for photo in sorted((tiny_data["seg"] / "images").iterdir())[:2]:
        (few / photo.name).symlink_to(photo)
    assert label(photos=str(few)).endswith("left out as unsure")  # two photos now: the earlier pairs are gone
    assert label(photos=str(few)).endswith("already holds these labels; skipped")
    (out / "pseudo.json").write_text('{"kept": 2, "inputs": ')  # cut short (a crash mid-write elsewhere)
    assert label(photos=str(few)).endswith("left out as unsure")  # unreadable: labelled again, not an error
    base = recipe.read_text()
    for old, new, sentence in (("max_unsure", "max_unsur", "a pseudo_label step takes 'models'.*; unknown: max_unsur"),
                               ("max_unsure: 1.0", "max_unsure: '1.0'", "label: max_unsure must be a number"),
                               ("max_unsure: 1.0", "band_px: 2.5", "recipe step label: band_px must be"),
                               ("low: 0.4\n", "low: 0.6\n", "recipe step label: --low and --high must satisfy"),
                               ("tta: none", "tta: flips", "recipe step label: tta must be")):
        recipe.write_text(base.replace(old, new))
        with pytest.raises(WsshmError, match=sentence):
            load_recipe(recipe, sets)
