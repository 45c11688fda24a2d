"""``report.html`` in a real browser: headless Chromium (Debian's ``chromium`` package) loads the
page, decodes every image, shows the headline, fits a 600 px wide window without a horizontal
scroll bar, and paints a page that is not blank.

Chromium is installed by ``make test`` when missing and the user is root (``apt-get install -y
chromium``); this module does the same when run alone as root, and is skipped, saying why,
when Chromium is missing and cannot be installed.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_report import build_demo_folder

#: Appended to a copy of the page: after load, write what the browser made of it into the DOM.
CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const out = {
    images: imgs.length,
    decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    headline: (document.getElementById('headline') || {innerText: ''}).innerText,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  };
  const pre = document.createElement('pre');
  pre.id = 'greenhop-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""

#: An image that cannot be decoded, so the check is seen to tell a broken image apart.
BROKEN_IMG = '<img alt="a broken image, on purpose" src="data:image/png;base64,AAAA">'


def _install_chromium() -> str | None:
    """Install Debian's chromium with apt-get (root only); the reason it failed, or None."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    for cmd in (install, ["apt-get", "update"], install):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        if done.returncode == 0 and cmd == install:
            return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"apt-get exited with {done.returncode}"


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is not None:
        return path
    if os.geteuid() != 0:
        pytest.skip(
            "chromium is not installed and installing it needs root "
            "(as root: apt-get install -y chromium, or make test)"
        )
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and there is no apt-get to install it with")
    why = _install_chromium()
    path = shutil.which("chromium")
    if path is None:
        pytest.skip(f"chromium is not installed and apt-get could not install it: {why}")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_folder(tmp_path_factory.mktemp("browser") / "run") / "report.html"


def _browse(chromium: str, page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            f"--user-data-dir={tmp / 'profile'}",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_page_loads_with_every_image_decoded(
    chromium: str, report: Path, tmp_path: Path
) -> None:
    checked = tmp_path / "checked.html"
    text = report.read_text(encoding="utf-8")
    checked.write_text(text.replace("</body>", BROKEN_IMG + CHECK_SCRIPT + "</body>"))
    done = _browse(
        chromium, checked, tmp_path, "--virtual-time-budget=20000", "--window-size=600,2000",
        "--dump-dom",
    )  # fmt: skip
    found = re.search(r'<pre id="greenhop-check">(.*?)</pre>', done.stdout, re.S)
    assert found is not None, done.stderr[-2000:]
    seen = json.loads(html.unescape(found.group(1)))
    assert seen["images"] == text.count("<img ") + 1 >= 8
    assert seen["decoded"] == seen["images"] - 1  # all but the broken one
    assert "drew the least non-renewable energy" in seen["headline"]
    assert "energy-only" in seen["headline"]
    assert seen["scrollWidth"] <= seen["innerWidth"] == 600  # it reflows: nothing sticks out


def test_the_page_paints(chromium: str, report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "page.png"
    done = _browse(chromium, report, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000")
    assert shot.is_file(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1200)
    assert pixels.std() > 20  # not a blank page
    assert (pixels < 128).mean() > 0.01  # text and plots drawn in dark ink
    top = pixels[:300]
    assert (top < 128).any()  # the title and the headline are at the top
