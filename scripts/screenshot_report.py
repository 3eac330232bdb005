"""Render the bad-eps fixture report to HTML and screenshot it with headless Chromium.

    python scripts/screenshot_report.py [--output docs/images/report-html.png]

Prints the PNG path. Needs torch and onnxruntime (the comparison runs for real) and a
Chromium binary (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--hide-scrollbars", "--force-device-scale-factor=1")


def render_report_html(path: Path) -> None:
    """Compare the bad-eps ONNX export with the TorchScript model and write the HTML.

    Runs from the repository root so the report shows the paths as ``fixtures/...``.
    """""
    import parity
    from parity.render.html import render_html

    report = parity.compare("fixtures/smallcnn_bad_eps.onnx", "fixtures/smallcnn.pt", seed=0)
    path.write_text(render_html(report), encoding="utf-8")


def screenshot(browser: str, html: Path, png: Path, width: int, height: int) -> None:
    """One headless Chromium run that writes ``png``."""
    with tempfile.TemporaryDirectory() as profile:
        command = [browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                   f"--window-size={width},{height}", html.resolve().as_uri()]
        subprocess.run(command, check=True, capture_output=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs/images/report-html.png")
    parser.add_argument("--html", type=Path, help="Keep the HTML here (default: a temp dir).")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1800)
    args = parser.parse_args()
    browser = next(filter(None, map(shutil.which, BROWSERS)), None)
    if browser is None:
        sys.exit("screenshot_report: no Chromium found (tried: " + ", ".join(BROWSERS) +
                 "); on Debian: apt-get install chromium")
    output = args.output.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        html = (args.html or Path(tmp) / "report.html").resolve()
        os.chdir(ROOT)
        render_report_html(html)
        output.parent.mkdir(parents=True, exist_ok=True)
        screenshot(browser, html, output, args.width, args.height)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
