"""Video and webcam matting: decode -> matte -> composite -> encode/show, as a pipeline of threads.

>>> from wsshm_rt import Matter
>>> from wsshm_rt.video import matte_video
>>> matte_video("talk.mp4", "talk-green.mp4", Matter(), background="#00ff00")

``api``: matte_video, run_webcam, make_compositor, split_workers. ``pipeline``: the threads and queues.
``sources`` / ``sinks``: frames in (video file, camera, image folder) and out (video file with audio, PNG sequence).
``window``: the live preview. ``temporal``: the dtSSD flicker metric. The per-frame matte and its temporal smoothing
(``FrameMatter``, what ``Matter.stream()`` returns) are runtime code: ``wsshm_rt.frames``.
"""

from ..frames import FrameMatter
from .api import OUTPUT_MODES, make_compositor, matte_video, run_webcam, split_workers
from .pipeline import LatestSlot, VideoResult, run_pipeline
from .sinks import check_output, open_sink
from .sources import Frame, open_source
from .temporal import dtssd

__all__ = ["FrameMatter", "VideoResult", "matte_video", "run_webcam", "run_pipeline", "dtssd", "LatestSlot",
           "OUTPUT_MODES", "make_compositor", "split_workers", "Frame", "open_source", "open_sink", "check_output"]
