"""The one headless-Chromium runner, for the report's screenshot and for the tests that
lay the page out: which binary (Debian's `chromium`, or the one $NETLAB_CHROMIUM names),
its command line (headless, its own profile directory), a page's DOM after its scripts
ran (--dump-dom) and a screenshot (--screenshot)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars")
TIMEOUT = 180  # seconds


class BrowserError(RuntimeError):
    """No Chromium, or Chromium did not do what it was asked."""


def find_chromium() -> str | None:
    """The binary: $NETLAB_CHROMIUM if it names one, else the first of CHROMIUM_NAMES on
    the PATH; None when there is none."""
    for name in filter(None, (os.environ.get("NETLAB_CHROMIUM"), *CHROMIUM_NAMES)):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium() -> str:
    """The binary, or BrowserError saying how to get one."""
    found = find_chromium()
    if found is None:
        raise BrowserError("no Chromium found (apt-get install chromium, or set NETLAB_CHROMIUM)")
    return found


def run(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the binary headless with its own profile directory and the given arguments;
    subprocess.TimeoutExpired after TIMEOUT seconds."""
    return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


def errors(result: subprocess.CompletedProcess[str]) -> str:
    """The exit status and the end of the standard error of a run, for a message."""
    return f"(exit {result.returncode}): {result.stderr.strip()[-500:]}"


def headless(profile: Path, *args: str) -> str:
    """Run headless Chromium (as run does); its standard output, BrowserError if it failed."""
    binary = chromium()
    result = run(binary, profile, *args)
    if result.returncode != 0:
        raise BrowserError(f"{binary} failed {errors(result)}")
    return result.stdout


def dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM as Chromium has it once the page has loaded and its scripts ran."""
    return headless(profile, "--dump-dom", page.as_uri())


def screenshot(page: Path, png: Path, width: float, height: float, profile: Path) -> None:
    """Render the page in a window of width x height pixels to the PNG (its directory
    created); BrowserError if no PNG was written."""
    binary = chromium()
    png.parent.mkdir(parents=True, exist_ok=True)
    window = f"--window-size={width:.0f},{height:.0f}"
    result = run(binary, profile, window, f"--screenshot={png.resolve()}", page.as_uri())
    if result.returncode != 0 or not png.is_file():
        raise BrowserError(f"{binary} wrote no {png} {errors(result)}")
