"""Training data: segmentation pairs (D_s), matte pairs composited on the fly (D_m), backgrounds, splits.

Jobs: layouts.py (finding image/label pairs and backgrounds in the known dataset layouts), labels.py (reading a
pair; a label of another aspect ratio than its photo is refused), splits.py (seeded train/val splits and subsets),
datasets.py (the datasets, addressed by ``SampleKey``), outputs.py (the folders pseudo-label and make-scenes write).
Files that are skipped are reported as warnings through ``logging`` (the ``wsshm_rt`` loggers).
"""

from .datasets import (MatteDataset, MixedDataset, SampleKey, SegDataset, fixed_composite, fixed_composites,
                       load_background, sample, to_chw, unsure)
from .labels import load_label, read_pair, same_aspect, shape_mismatch
from .layouts import MATTE_LAYOUTS, PHOTO_LAYOUTS, SEG_LAYOUTS, Pair, find_backgrounds, find_layout, find_pairs, subdir
from .splits import select_split, split, split_mismatch, stable_hash, subset

__all__ = ["MATTE_LAYOUTS", "PHOTO_LAYOUTS", "SEG_LAYOUTS", "MatteDataset", "MixedDataset", "Pair", "SampleKey",
           "SegDataset", "find_backgrounds", "find_layout", "find_pairs", "fixed_composite", "fixed_composites",
           "load_background", "load_label", "read_pair", "same_aspect", "sample", "select_split", "shape_mismatch",
           "split", "split_mismatch", "stable_hash", "subdir", "subset", "to_chw", "unsure"]
