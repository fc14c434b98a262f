"""How long the dashboard's overview takes to load on a server holding many structures.

Makes N busy structures on a throwaway server (as benchmarks/listing.py does: by default
1,000), serves them with `aiopyrq web` (a uvicorn process, as a user runs it), then times
a few loads of the overview: the page's HTML alone (the server finding and reading every
structure and rendering the table), its JSON (what the page's script fetches every few
seconds: the counts of the structures found, read again), and the whole page in the
system's Chromium (ci/browser-bin), until its load event (HTML, CSS and script). Prints
the medians::

    .venv/bin/python benchmarks/dashboard.py [--structures 1000] [--runs 5] [--no-cluster]
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from listing import on_servers
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(url: str, *, cluster: bool) -> tuple[subprocess.Popen[bytes], str]:
    """Start `aiopyrq web` on a free port; the process and its base URL once it answers."""
    port = free_port()
    flag = "--cluster" if cluster else "--no-cluster"
    command = [sys.executable, "-m", "aiopyrq", "web", "--url", url, flag, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if answers(base + "/static/dashboard.css"):
            return process, base
        time.sleep(0.1)
    process.kill()
    msg = "aiopyrq web did not start"
    raise SystemExit(msg)


def answers(address: str) -> bool:
    """Whether a GET of address succeeds."""
    try:
        with urllib.request.urlopen(address, timeout=2):  # noqa: S310
            return True
    except OSError:
        return False


def fetch(address: str) -> tuple[float, str]:
    """GET address: the wall time and the body."""
    start = time.perf_counter()
    with urllib.request.urlopen(address, timeout=120) as response:  # noqa: S310
        body = response.read().decode()
    return time.perf_counter() - start, body


def measure(base: str, expected: int, runs: int) -> dict[str, float]:
    """Median seconds of the overview's HTML, its JSON, and the page in Chromium."""
    times: dict[str, list[float]] = {"HTML": [], "JSON": [], "load": []}
    for _ in range(runs):
        seconds, html = fetch(base + "/")
        if html.count("<tr data-name=") != expected:
            msg = f"the overview shows {html.count('<tr data-name=')} structures, not {expected}"
            raise SystemExit(msg)
        times["HTML"].append(seconds)
        times["JSON"].append(fetch(base + "/api/overview")[0])
    browser_bin = subprocess.run(
        [HERE.parent / "ci" / "browser-bin"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_bin)
        for _ in range(runs):
            page = browser.new_page()
            start = time.perf_counter()
            page.goto(base + "/", wait_until="load", timeout=120_000)
            times["load"].append(time.perf_counter() - start)
            shown = page.locator("#structures tbody tr").count()
            if shown != expected:
                msg = f"Chromium shows {shown} structures, not {expected}"
                raise SystemExit(msg)
            page.close()
        browser.close()
    return {label: statistics.median(values) for label, values in times.items()}


def run(url: str, expected: int, runs: int, *, cluster: bool) -> dict[str, float]:
    """Serve url's structures and measure the overview."""
    process, base = serve(url, cluster=cluster)
    try:
        return measure(base, expected, runs)
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    """Measure on a standalone server, then on a Redis Cluster of 3 masters."""
    on_servers(__doc__, run, report)


def report(where: str, medians: dict[str, float], structures: int) -> None:
    """One line per measure: the median wall time."""
    labels = {
        "HTML": "overview HTML",
        "JSON": "overview JSON",
        "load": "page in Chromium",
    }
    for key, seconds in medians.items():
        print(f"{where:<10}  {structures} structures  {labels[key]:<24}  {seconds:6.2f} s")


if __name__ == "__main__":
    main()
