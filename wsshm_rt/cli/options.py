"""The options several commands share, each defined once: model, engine, device, short side, threads, precision,
refine and tta. A command takes ``option(default=..., help=...)`` where its default or wording must differ (video's
one-pass tta, webcam's 256 px); the library checks the values (one sentence naming the argument)."""

from __future__ import annotations

import typer

ENGINE_HELP = "Inference engine: auto, onnxruntime, openvino, tensorrt or torch."
DEVICE_HELP = "Inference device: auto, cpu or cuda."
SHORT_SIDE_HELP = "Shorter side the image is resized to for inference."
SHORT_SIDE_DEFAULT = "the model's recommendation, else 512"
THREADS_HELP = "CPU threads for inference."
PRECISION_HELP = ("fp32; bf16 with --engine openvino (an .onnx model) or torch, on a CPU with AMX or AVX512-BF16 "
                  "(the fastest CPU path) or a GPU; fp16 with torch on a GPU. An int8 .onnx from `wsshm-rt export "
                  "--quantize int8` runs in int8 on onnxruntime or openvino.")
REFINE_HELP = ("guided: bring the alpha back to the image's size with a colour guided filter that follows the "
               "image's edges; none: a plain resize of the network's output.")
TTA_HELP = ("flip+scale: also run the network on the mirrored image and at 1.4x the size, and average them (finest "
            "edges; about 4x one pass's time); flip: the mirrored image only (2x); none: one pass.")


def model(help: str = "Model file; default: the bundled model."):
    return typer.Option(None, "--model", "-m", help=help)


def engine(default: str = "auto", help: str = ENGINE_HELP):
    return typer.Option(default, "--engine", help=help)


def device(default: str = "auto", help: str = DEVICE_HELP):
    return typer.Option(default, "--device", help=help)


def short_side(default=None, help: str = SHORT_SIDE_HELP, show_default=SHORT_SIDE_DEFAULT):
    return typer.Option(default, "--short-side", help=help,
                        show_default=show_default if default is None else True)


def threads(default=None, help: str = THREADS_HELP, **kw):
    return typer.Option(default, "--threads", help=help, **kw)


def precision(default: str = "fp32", help: str = PRECISION_HELP):
    return typer.Option(default, "--precision", help=help)


def refine(default: str = "guided", help: str = REFINE_HELP):
    return typer.Option(default, "--refine", help=help)


def tta(default: str = "flip+scale", help: str = TTA_HELP):
    return typer.Option(default, "--tta", help=help)
