"""The web page at / in real headless Chromium (Debian's package) with a fake camera fed from a generated clip."""

from __future__ import annotations

import base64
import re
import shutil

import cv2
import numpy as np
import pytest

from wsshm_rt.compose import alpha_to_uint8, replace_background

from .conftest import decode_png, encode, photo
from .y4m import write_y4m

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the [dev] extra)")

CLIP_SIZE = (240, 320)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A few seconds of the astronaut portrait drifting sideways, as a .y4m file."""
    rgb = photo(*CLIP_SIZE)
    frames = [np.roll(rgb, shift, axis=1) for shift in range(0, 20, 2)]
    return write_y4m(tmp_path_factory.mktemp("clip") / "clip.y4m", frames)


@pytest.fixture(scope="module")
def page(clip, server):
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={clip}"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)  # a fresh profile
        page = browser.new_page()
        page.set_default_timeout(180_000)  # a hang guard for a loaded machine, not a speed requirement
        page.goto(server.base + "/")
        yield page
        browser.close()


def _result_bytes(page) -> bytes:
    """The bytes of the image the page shows (its object URL), read inside the page."""
    b64 = page.evaluate("""async () => {
        const blob = await (await fetch(document.getElementById("result").src)).blob();
        return await new Promise((ok) => { const r = new FileReader();
                                          r.onload = () => ok(r.result.split(",")[1]); r.readAsDataURL(blob); });
    }""")
    return base64.b64decode(b64)


def test_upload_a_photo_see_the_cutout_and_a_composite(page):
    from wsshm_rt.matter import Matter

    jpeg = encode(photo())
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    alpha = Matter(tta="none").predict(rgb)

    page.set_input_files("#file", files=[{"name": "me.jpg", "mimeType": "image/jpeg", "buffer": jpeg}])
    page.wait_for_selector('#result[data-state="done"]')
    rgba = decode_png(_result_bytes(page))
    assert rgba.shape == (*rgb.shape[:2], 4)
    assert np.abs(rgba[..., 3].astype(int) - alpha_to_uint8(alpha)).max() <= 1
    link = page.locator("#download")
    assert link.is_visible() and link.get_attribute("download") == "me.png"
    assert link.get_attribute("href") == page.locator("#result").get_attribute("src")

    page.locator("#bg-colour").fill("#ff0000")
    page.check('input[name="bg"][value="colour"]')
    page.wait_for_selector('#result[data-state="done"]')
    composite = decode_png(_result_bytes(page))
    assert composite.shape == rgb.shape
    assert np.abs(composite.astype(int) - replace_background(rgb, alpha, "#ff0000")).max() <= 2


def test_live_camera_frames_come_back_with_the_background_replaced(page, server):
    before = server.metrics()["wsshm_live_frames_total"]
    page.check('input[name="bg"][value="colour"]')
    page.locator("#bg-colour").fill("#ff0000")
    page.click("#live-start")
    page.wait_for_function("Number(document.getElementById('live-out').dataset.frames) >= 10")
    fps = page.locator("#fps").inner_text()
    frame = decode_png(base64.b64decode(page.evaluate(
        "document.getElementById('live-out').toDataURL('image/png').split(',')[1]")))
    page.click("#live-stop")
    assert re.fullmatch(r"\d+\.\d FPS", fps) and float(fps.split()[0]) > 0
    assert frame.shape[:2] == CLIP_SIZE
    # The top right of the portrait is studio wall (alpha 0 there): it comes back red.
    corner = frame[10:100, 250:310, :3].reshape(-1, 3).mean(axis=0)
    assert corner[0] > corner[1] + 100 and corner[0] > corner[2] + 100
    assert server.metrics()["wsshm_live_frames_total"] - before >= 10
