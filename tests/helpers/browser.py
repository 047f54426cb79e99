"""Headless Chromium for the admin UI's browser tests (Python ``playwright``, Debian's
``chromium``: no browser download).

``with chromium() as browser: page = browser.new_page()``. The binary is
``$L5D_CHROMIUM`` or ``/usr/bin/chromium`` (scripts/sysdeps.sh installs it); a missing one
fails the test outside CI too, with the command that installs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

#: Chromium's flags: headless, no sandbox (containers), nothing that calls home
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: where screenshots go (``L5D_SHOTS`` overrides)
SHOTS = Path(os.environ.get("L5D_SHOTS", str(Path(tempfile.gettempdir()) / "l5d-shots")))


def executable() -> str:
    path = os.environ.get("L5D_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        raise RuntimeError(f"no Chromium at {path}: run scripts/sysdeps.sh (apt-get install "
                           "chromium) or set L5D_CHROMIUM")
    return path


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A launched headless Chromium (a playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable(), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def shot(page, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``SHOTS/<name>.png``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
