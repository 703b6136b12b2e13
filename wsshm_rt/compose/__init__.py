"""Compositing: foreground colour estimation, RGBA cut-outs and background replacement.

Everything here is numpy + OpenCV and float32 at most. Large frames are processed in horizontal strips
(with overlap margins for the box filters), and the wide, smooth fields (the wide blur-fusion means and a
blurred background) are computed once at a reduced working resolution and bilinearly upsampled per strip,
so a 10000x10000 photo needs only a few hundred MB beyond its own input and output arrays.

Jobs: backgrounds.py (parsing a background spec), foreground.py (blur-fusion foreground colours), sources.py
(backgrounds as row sources: colour, cover-scaled image, blur), composite.py (cut-outs and replacement),
strips.py (strip and resolution plumbing).
"""

from .backgrounds import NAMED_COLOURS, Background, parse_background
from .composite import alpha_to_uint8, cutout_rgba, replace_background
from .foreground import blur_box_sizes, estimate_foreground
from .sources import fit_cover

__all__ = ["NAMED_COLOURS", "Background", "alpha_to_uint8", "blur_box_sizes", "cutout_rgba", "estimate_foreground",
           "fit_cover", "parse_background", "replace_background"]
