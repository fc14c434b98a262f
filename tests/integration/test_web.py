"""The dashboard (``aiopyrq web``) in a real Chromium, on real servers with live consumers.

Each dashboard is the command line's, a uvicorn process on a free loopback port. The
browser is the system's Chromium (ci/browser-bin), driven by Playwright. Each page's
screenshot is saved under tests/artifacts/ (or $AIOPYRQ_ARTIFACTS).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from uuid import uuid4

import pytest
import redis
import redis.cluster
from playwright.sync_api import Page, expect, sync_playwright

from aiopyrq import sync
from tests.harness import RedisServer
from tests.harness.servers import _free_port
from tests.sync_helpers import age_lease, items_named

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("AIOPYRQ_ARTIFACTS") or ROOT / "tests" / "artifacts")
PASSWORD = "pw-" + uuid4().hex  # the server's, which no page may show
TOKEN = "token-" + uuid4().hex
PREFIX = f"web-{uuid4().hex[:6]}"
NONE = "\N{EN DASH}"  # a count that does not apply


def chromium() -> str:
    """The system's Chromium, as ci/browser-bin finds (or installs) it."""
    found = subprocess.run(
        [ROOT / "ci" / "browser-bin"], capture_output=True, text=True, check=False, timeout=600
    )
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


# An app of one's own that mounts the dashboard under /queues: argv URL, port, token.
MOUNTED = """
import sys
import redis, uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from aiopyrq.web import create_app

client = redis.Redis.from_url(sys.argv[1], decode_responses=True)
dashboard = create_app(client, token=sys.argv[3], refresh=1)
app = Starlette(routes=[Mount("/queues", app=dashboard)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


class Dashboard:
    """``aiopyrq web`` on a free loopback port (or the app ``MOUNTED``), until stopped."""

    def __init__(
        self, url: str, *, token: str | None = None, cluster: bool = False, mounted: bool = False
    ) -> None:
        port = str(_free_port())
        self.base = f"http://127.0.0.1:{port}" + ("/queues" if mounted else "")
        command = [sys.executable, "-m", "aiopyrq", "web", "--url", url, "--port", port]
        command += ["--refresh", "1"]
        command += ["--cluster"] if cluster else ["--no-cluster"]
        if mounted:
            command = [sys.executable, "-c", MOUNTED, url, port, token or ""]
        env = {k: v for k, v in os.environ.items() if k != "AIOPYRQ_WEB_TOKEN"}
        if token:
            env["AIOPYRQ_WEB_TOKEN"] = token  # as an operator would give it
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(self.base + "/static/dashboard.css", timeout=2):  # noqa: S310
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"aiopyrq web did not start: {self.output}")
                time.sleep(0.1)
        self.output = ""

    def stop(self) -> None:
        self.process.terminate()
        self.output, _ = self.process.communicate(timeout=10)


class Consuming:
    """A live sync Consumer in a thread of its own."""

    def __init__(self, structure, handler, **options) -> None:
        self.consumer = sync.Consumer(structure, handler, wait=0.2, **options)
        self.thread = threading.Thread(
            target=self.consumer.run, kwargs={"handle_signals": False}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.consumer.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def until(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def shoot(page: Page, name: str) -> None:
    """Save a screenshot of the whole page as a test artefact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def number(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium())
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def server():
    """A standalone server with a password, which no page may show."""
    with RedisServer(extra_args=["--requirepass", PASSWORD]) as server:
        yield server


@pytest.fixture(scope="module")
def url(server) -> str:
    return f"redis://:{PASSWORD}@127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def rclient(url):
    client = redis.Redis.from_url(url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="module")
def fleet(rclient):
    """Structures of every kind: a queue with consumers at work, a failing one, a stale one.

    ``busy``'s consumer holds its items in handlers that wait for ``gate``; ``failing``'s
    consumer fails every item (one delivery each: dead letters); ``stale`` has a consumer
    that took 3 items and went silent two minutes ago.
    """
    names = {kind: f"{PREFIX}-{kind}" for kind in ("busy", "failing", "stale", "uniq", "pool")}
    names["sharded"] = f"{PREFIX}-sharded"
    gate = threading.Event()
    busy = sync.Queue(names["busy"], rclient)
    busy.add_items(items_named(30, "order"))
    failing = sync.Queue(names["failing"], rclient, max_deliveries=1)
    failing.add_items([f"broken-{i}-" + "x" * 300 for i in range(8)])  # long: cut on the page
    stale = sync.Queue(names["stale"], rclient)
    stale.add_items(items_named(10, "job"))
    assert len(stale.get_items(3)) == 3
    age_lease(stale, 120)
    sync.UniqueQueue(names["uniq"], rclient).add_items(items_named(5, "u"))
    sync.Pool(names["pool"], rclient).add_items(items_named(4, "p"))
    sync.ShardedQueue(names["sharded"], rclient, shards=3).add_items(items_named(9, "s"))

    def fail(item):
        msg = f"cannot handle {item[:10]}"
        raise ValueError(msg)

    workers = [
        Consuming(busy, lambda _: gate.wait(60), concurrency=2, batch_size=2),
        Consuming(failing, fail, retry_delay=0),
    ]
    until(lambda: failing.get_dead_count() == 8, "the failing items to die")
    workers.pop().stop()
    until(lambda: busy.get_count() == 30 - 4, "busy's consumer to hold its items")
    yield names
    gate.set()
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="module")
def dashboard(url, fleet):
    del fleet
    app = Dashboard(url, token=TOKEN)
    yield app.base
    app.stop()


def counts_of(client, name: str, *, sharded: int = 0) -> dict[str, int]:
    """What the library says a queue holds: the figures the overview shows."""
    queue = sync.ShardedQueue(name, client, shards=sharded) if sharded else sync.Queue(name, client)
    shards = queue.shards if sharded else [queue]
    leases = [client.hgetall(shard.timeouts_hash_name) for shard in shards]
    return {
        "waiting": queue.get_count(),
        "delayed": queue.get_delayed_count(),
        "in_flight": sum(client.llen(p) for lease in leases for p in lease),
        "consumers": sum(len(lease) for lease in leases),
        "dead": queue.get_dead_count(),
    }


def charted(page: Page) -> dict[str, int | None]:
    """What the charts show: each count's total over their hour, the backlog's last size."""
    lines = page.locator("figure.chart polyline")
    shown = {}
    for series, values in zip(
        lines.evaluate_all("ls => ls.map(l => l.dataset.series)"),
        lines.evaluate_all("ls => ls.map(l => l.dataset.values)"),
        strict=True,
    ):
        numbers = [int(v) for v in values.split(",") if v]
        assert len(values.split(",")) == 60  # one point a minute
        shown[series] = numbers[-1] if series == "waiting" and numbers else sum(numbers)
    return shown


def library_history(structure) -> dict[str, int | None]:
    """The same figures from ``get_history``."""
    history = structure.get_history(minutes=60)
    known = [minute.waiting for minute in history if minute.waiting is not None]
    totals = {key: sum(getattr(minute, key) for minute in history) for key in CHARTED}
    return totals | {"waiting": known[-1] if known else None}


CHARTED = ("delivered", "acked", "failed", "dead")


def sign_in(page: Page, base: str) -> None:
    page.goto(base + "/")
    page.fill("input[name=token]", TOKEN)
    page.click("text=Sign in to act")
    expect(page.locator("text=Sign out")).to_be_visible()


def test_overview_shows_every_structure_with_the_library_counts(page, dashboard, fleet, rclient):
    """The overview lists each structure, its kind, and the counts the library reads."""
    page.goto(dashboard + "/")
    rows = page.locator("#structures tbody tr")
    expect(rows).to_have_count(len(fleet))
    expect(page.locator("body")).to_have_attribute("data-refreshed", re.compile("[1-9]"))
    shoot(page, "overview")
    kinds = {"uniq": "UniqueQueue", "pool": "Pool", "sharded": "Queue3 shards"}
    for role, name in fleet.items():
        row = page.locator(f"tr[data-name='{name}']")
        assert row.locator("td").nth(1).inner_text().replace("\n", "").replace(" ", "") == (
            kinds.get(role, "Queue").replace(" ", "")
        )
        shown = {
            cell.get_attribute("data-field"): cell.inner_text()
            for cell in row.locator("[data-field]").all()
        }
        if role == "pool":
            assert shown == {
                "waiting": "4",
                "delayed": NONE,
                "in_flight": "0",
                "consumers": NONE,
                "dead": NONE,
            }
            continue
        expected = counts_of(rclient, name, sharded=3 if role == "sharded" else 0)
        assert {field: number(text) for field, text in shown.items()} == expected, role
    busy = page.locator(f"tr[data-name='{fleet['busy']}'] [data-field=in_flight]")
    assert busy.inner_text() == "4"
    assert page.locator(f"tr[data-name='{fleet['failing']}'] [data-field=dead]").inner_text() == "8"


def test_structure_page_shows_consumers_items_and_dead_letters(page, dashboard, fleet, rclient):
    """A queue's page: its counts, its live consumer's lease and held items, its head, its dead."""
    page.goto(f"{dashboard}/s/{fleet['busy']}")
    expect(page.locator("#counts [data-field=waiting]")).to_have_text("26")
    expect(page.locator("#counts [data-field=in_flight]")).to_have_text("4")
    consumer = page.locator("#consumers tbody tr")
    expect(consumer).to_have_count(1)
    [processing] = rclient.hkeys(sync.Queue(fleet["busy"], rclient).timeouts_hash_name)
    assert consumer.locator("td").first.inner_text() == processing.split("-processing-", 1)[1]
    assert consumer.locator("td").nth(1).inner_text() == "4"
    assert consumer.locator("td").nth(2).inner_text().endswith(" s")
    held = consumer.locator("td.items code").all_inner_texts()
    assert held == ["order-0", "order-1", "order-2", "order-3"]
    head = page.locator("#head tbody td.item").all_inner_texts()
    assert head == [f"order-{i}" for i in range(4, 24)]  # the next 20, first first
    expect(page.locator("body")).to_have_attribute("data-refreshed", re.compile("[1-9]"))
    assert charted(page) == library_history(sync.Queue(fleet["busy"], rclient))
    assert charted(page)["delivered"] == 4
    shoot(page, "structure-busy")

    page.goto(f"{dashboard}/s/{fleet['failing']}")
    dead = page.locator("#dead tbody td.item code").all_inner_texts()
    assert len(dead) == 8
    assert all(item.startswith("broken-") and item.endswith("…") for item in dead)
    assert max(map(len, dead)) == 120
    letters = sync.Queue(fleet["failing"], rclient).get_dead_items(8, details=True)
    reasons = page.locator("#dead tbody .reason").all_inner_texts()
    assert reasons == [letter.reason for letter in letters]
    assert reasons[0] == "ValueError: cannot handle broken-0-x"
    for row in page.locator("#dead tbody tr").all():
        died, tries = row.locator("td.num").all_inner_texts()[1:]
        assert re.fullmatch(r"\d+ s ago", died), died
        assert tries == "1"
    expect(page.locator("body")).to_have_attribute("data-refreshed", re.compile("[1-9]"))
    assert charted(page) == library_history(sync.Queue(fleet["failing"], rclient))
    assert {key: charted(page)[key] for key in CHARTED} == {
        "delivered": 8,
        "acked": 0,
        "failed": 8,
        "dead": 8,
    }
    shoot(page, "structure-failing")

    page.goto(f"{dashboard}/s/{fleet['pool']}")
    counts = page.locator("#counts [data-field]")
    assert dict(
        zip(
            counts.evaluate_all("cs => cs.map(c => c.dataset.field)"),
            counts.all_inner_texts(),
            strict=True,
        )
    ) == {"total": "4", "waiting": "4", "in_flight": "0", "scheduled": "0"}
    rows = page.locator("#head tbody tr")
    assert [row.locator("td").all_inner_texts()[1:] for row in rows.all()] == [
        [f"p-{i}", "due"] for i in range(4)
    ]
    assert page.locator("#consumers, #dead").count() == 0  # a Pool has neither
    shoot(page, "structure-pool")


def test_numbers_refresh_on_their_own(page, dashboard, fleet, rclient):
    """Items added after the page loaded show up in its counts without a reload."""
    page.goto(f"{dashboard}/s/{fleet['uniq']}")
    expect(page.locator("#counts [data-field=waiting]")).to_have_text("5")
    sync.UniqueQueue(fleet["uniq"], rclient).add_items(items_named(3, "later"))
    expect(page.locator("#counts [data-field=waiting]")).to_have_text("8", timeout=15_000)
    page.goto(dashboard + "/")
    sync.UniqueQueue(fleet["uniq"], rclient).add_items(items_named(2, "more"))
    cell = page.locator(f"tr[data-name='{fleet['uniq']}'] [data-field=waiting]")
    expect(cell).to_have_text("10", timeout=15_000)


def test_requeue_dead_letters_from_the_page(page, dashboard, fleet, rclient):
    """Signed in, a requeue of the dead letters shows a dry run, then moves them all back."""
    name = fleet["failing"]
    queue = sync.Queue(name, rclient)
    dead_before = queue.get_dead_count()
    sign_in(page, dashboard)
    page.goto(f"{dashboard}/s/{name}")
    page.click("a:text('Requeue all…')")
    expect(page.locator("#preview")).to_contain_text(f"Would requeue {dead_before} dead letters")
    assert queue.get_dead_count() == dead_before  # the preview changed nothing
    shoot(page, "action-preview")
    page.click("#confirm")
    expect(page.locator("#result")).to_have_text(f"Requeued {dead_before} dead letters.")
    shoot(page, "action-done")
    assert queue.get_dead_count() == 0
    assert queue.get_count() == dead_before
    assert sorted(rclient.lrange(name, 0, -1)) == sorted(
        f"broken-{i}-" + "x" * 300 for i in range(8)
    )


def test_requeue_stale_previews_then_moves_the_items(page, dashboard, fleet, rclient):
    """The stale consumer's items: a dry run names it and its 3 items, the confirm moves them."""
    name = fleet["stale"]
    queue = sync.Queue(name, rclient)
    sign_in(page, dashboard)
    page.goto(f"{dashboard}/s/{name}")
    page.fill("input[name=older_than]", "600")
    page.click("text=Preview…")
    expect(page.locator("#preview")).to_contain_text("Would requeue 0 items")
    page.goto(f"{dashboard}/s/{name}")
    page.fill("input[name=older_than]", "60")
    page.click("text=Preview…")
    expect(page.locator("#preview")).to_contain_text(
        "Would requeue 3 items of consumers whose lease is older than 60 s, from 1 consumer:"
    )
    consumer, items, lease = page.locator("#preview + table tbody td").all_inner_texts()
    [processing] = rclient.hkeys(queue.timeouts_hash_name)
    assert (consumer, items) == (processing.split("-processing-", 1)[1], "3")
    assert re.fullmatch(r"2 min \d+ s", lease), lease
    shoot(page, "action-stale-preview")
    assert queue.get_count() == 7
    page.click("#confirm")
    expect(page.locator("#result")).to_contain_text("Requeued 3 items of stale consumers")
    assert queue.get_count() == 10
    assert rclient.hlen(queue.timeouts_hash_name) == 0


def test_actions_without_the_token_are_refused(page, browser, dashboard, fleet, rclient):
    """A POST without a session, with a wrong token, without its CSRF token or from another
    site is refused with 403, and moves nothing; the bearer token is let through."""
    name = fleet["sharded"]
    target = f"{dashboard}/act/requeue-stale/{name}"
    queue = sync.ShardedQueue(name, rclient, shards=3)
    before = queue.get_count()
    anonymous = page.request
    assert anonymous.post(target, form={"older_than": "0"}).status == 403
    wrong = {"authorization": "Bearer not-the-token"}
    assert anonymous.post(target, form={"older_than": "0"}, headers=wrong).status == 403
    assert anonymous.get(target).status == 403  # no preview either
    page.goto(f"{dashboard}/s/{name}")
    assert page.locator("text=Requeue all…").count() == 0  # no action shown
    assert page.locator("form.action").count() == 0

    sign_in(page, dashboard)
    assert page.request.post(target, form={"older_than": "0"}).status == 403  # no CSRF
    page.goto(f"{target}?older_than=0")
    csrf = page.locator("input[name=csrf]").get_attribute("value")
    forged = {"origin": "http://evil.example", "sec-fetch-site": "cross-site"}
    form = {"older_than": "0", "csrf": csrf}
    assert page.request.post(target, form=form, headers=forged).status == 403
    signed = {"token": TOKEN}
    assert anonymous.post(f"{dashboard}/sign-in", form=signed, headers=forged).status == 403
    other = browser.new_context()  # another browser: the CSRF token is not its own
    assert other.request.post(target, form=form).status == 403
    other.close()
    assert queue.get_count() == before

    bearer = {"authorization": f"Bearer {TOKEN}", "accept": "application/json"}
    done = anonymous.post(f"{dashboard}/act/purge-dead/{fleet['busy']}", headers=bearer)
    assert done.status == 200
    assert done.json() == {"action": "purge-dead", "name": fleet["busy"], "count": 0}


def test_read_only_dashboard_has_no_actions(page, url, fleet):
    """Without a token: no sign-in, no action, and every POST refused, even with a token."""
    app = Dashboard(url)
    try:
        page.goto(f"{app.base}/s/{fleet['failing']}")
        expect(page.locator("header")).to_contain_text("read-only")
        assert page.locator("input[name=token]").count() == 0
        assert page.locator("a.button, form.action").count() == 0
        target = f"{app.base}/act/purge-dead/{fleet['failing']}"
        bearer = {"authorization": f"Bearer {TOKEN}"}
        assert page.request.post(target, headers=bearer).status == 403
        assert page.request.post(f"{app.base}/sign-in", form={"token": TOKEN}).status == 403
    finally:
        app.stop()


def test_mounted_in_an_app_of_ones_own(page, url, fleet):
    """Mounted under /queues: its pages, assets, JSON, sign-in and actions stay under it."""
    app = Dashboard(url, token=TOKEN, mounted=True)
    try:
        page.goto(app.base + "/")
        expect(page.locator("body")).to_have_attribute("data-refreshed", re.compile("[1-9]"))
        header = page.locator("header.top")
        assert header.evaluate("e => getComputedStyle(e).display") == "flex"  # its CSS
        page.click(f"a:text('{fleet['failing']}')")
        assert page.url == f"{app.base}/s/{fleet['failing']}"
        sign_in(page, app.base)
        assert [c["path"] for c in page.context.cookies()] == ["/queues"]
        page.goto(f"{app.base}/s/{fleet['stale']}")
        page.click("text=Preview…")
        assert page.url.startswith(f"{app.base}/act/requeue-stale/{fleet['stale']}?")
        expect(page.locator("#preview")).to_contain_text("Would requeue")
    finally:
        app.stop()


def status_with_host(address: str, host: str) -> int:
    """The status of a GET of address with the Host header naming host."""
    request = urllib.request.Request(address, headers={"Host": host})  # noqa: S310 - http
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_page_asked_for_another_host_is_refused(dashboard):
    """On loopback, a request for another host name (DNS rebinding) gets 400."""
    port = dashboard.rsplit(":", 1)[1]
    statuses = {
        host: status_with_host(f"{dashboard}/api/overview", f"{host}:{port}")
        for host in ("evil.example", "localhost", "127.0.0.1")
    }
    assert statuses == {"evil.example": 400, "localhost": 200, "127.0.0.1": 200}


def test_the_password_never_shows(page, dashboard, fleet):
    """No page, JSON or error of the dashboard shows the Redis password."""
    sign_in(page, dashboard)
    paths = ["/", "/api/overview", "/s/nothing-here", "/api/s/nothing-here"]
    for name in fleet.values():
        paths += [f"/s/{name}", f"/api/s/{name}"]
    paths.append(f"/act/requeue-dead/{fleet['failing']}")
    for path in paths:
        response = page.request.get(dashboard + path)
        assert response.status in {200, 404}, path
        assert PASSWORD not in response.text(), path
        assert "redis://:***@127.0.0.1" in response.text() or path.startswith("/api"), path
    page.goto(f"{dashboard}/s/nothing-here")
    expect(page.locator("h1")).to_have_text("404 Not Found")
    expect(page.locator(".message")).to_contain_text("no queue, unique queue, pool or sharded")
    shoot(page, "error-404")


@pytest.fixture(scope="module")
def cluster_fleet(cluster):
    """On the cluster: a queue with a live consumer and dead letters, a sharded queue."""
    client = redis.cluster.RedisCluster.from_url(cluster.url, decode_responses=True)
    names = {"live": f"{PREFIX}-c-live", "sharded": f"{PREFIX}-c-sharded"}
    live = sync.Queue(names["live"], client, max_deliveries=1)
    live.add_items([*items_named(20, "ok"), *items_named(5, "bad")])
    sync.ShardedQueue(names["sharded"], client, shards=4).add_items(items_named(12, "s"))

    def handle(item):
        if item.startswith("bad"):
            raise ValueError(item)

    worker = Consuming(live, handle, retry_delay=0)
    until(lambda: live.get_dead_count() == 5 and live.get_count() == 0, "the live queue to drain")
    yield client, names
    worker.stop()
    client.close()


def test_cluster_overview_and_requeue(page, cluster, cluster_fleet):
    """On a Redis Cluster: the counts of every master's structures, and a requeue from the page."""
    client, names = cluster_fleet
    app = Dashboard(cluster.url, token=TOKEN, cluster=True)
    try:
        page.goto(f"{app.base}/?match={PREFIX}-c-*")
        expect(page.locator("#structures tbody tr")).to_have_count(2)
        row = page.locator(f"tr[data-name='{names['sharded']}']")
        assert row.locator("[data-field=waiting]").inner_text() == "12"
        assert row.locator("td").nth(1).inner_text().split() == ["Queue", "4", "shards"]
        live = page.locator(f"tr[data-name='{names['live']}']")
        assert live.locator("[data-field=dead]").inner_text() == "5"
        assert live.locator("[data-field=consumers]").inner_text() == "1"
        shoot(page, "cluster-overview")
        page.goto(f"{app.base}/s/{names['sharded']}")
        expect(page.locator("#head tbody tr")).to_have_count(12)
        shoot(page, "cluster-sharded")

        sign_in(page, app.base)
        page.goto(f"{app.base}/s/{names['live']}")
        page.click("a:text('Requeue all…')")
        page.click("#confirm")
        expect(page.locator("#result")).to_have_text("Requeued 5 dead letters.")
        queue = sync.Queue(names["live"], client)
        until(lambda: queue.get_dead_count() == 5, "the live consumer to fail them again")
    finally:
        app.stop()


def test_redis_down_gives_a_clear_page_then_the_dashboard_comes_back(page):
    """With its server stopped: a 503 page and a JSON error that name the cause, no password,
    and a running dashboard that shows the structures again once the server is back."""
    with RedisServer(extra_args=["--requirepass", PASSWORD], appendonly=True) as server:
        url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}"
        client = redis.Redis.from_url(url, decode_responses=True)
        name = f"{PREFIX}-down"
        sync.Queue(name, client).add_items(items_named(3, "d"))
        app = Dashboard(url)
        try:
            page.goto(f"{app.base}/s/{name}")
            expect(page.locator("#counts [data-field=waiting]")).to_have_text("3")
            server.stop()
            stale = page.locator("#status.stale")  # the open page keeps its figures
            expect(stale).to_contain_text("not updated: Redis cannot be reached", timeout=10_000)
            expect(page.locator("#counts [data-field=waiting]")).to_have_text("3")
            shoot(page, "structure-redis-down")
            response = page.goto(f"{app.base}/s/{name}")
            assert response is not None
            assert response.status == 503
            expect(page.locator("h1")).to_have_text("503 Service Unavailable")
            expect(page.locator(".message")).to_contain_text("Redis cannot be reached: Error 111")
            expect(page.locator(".message")).to_contain_text(str(server.port))
            shoot(page, "error-503")
            api = page.request.get(f"{app.base}/api/overview")
            assert api.status == 503
            assert api.json()["error"].startswith("Redis cannot be reached:")
            for text in (page.content(), api.text()):
                assert PASSWORD not in text

            server.start()  # the same data, from the append-only file
            page.goto(f"{app.base}/s/{name}")
            expect(page.locator("h1")).to_contain_text(name)
            assert page.request.get(f"{app.base}/api/overview").status == 200
        finally:
            app.stop()
            client.close()
    assert "Traceback" not in app.output
