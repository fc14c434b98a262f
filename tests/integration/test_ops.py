"""The Grafana dashboard and Prometheus alert rules in ops/ use only what the collector exports.

The collector is scraped against a real server with a Queue, a Pool, a ShardedQueue and a
Consumer, so that every metric it can export is there. The PromQL of the dashboard and of
the rules is read roughly: every identifier that starts with ``aiopyrq_`` is a metric, and
every label in ``by (...)`` or in a selector must be one the collector (or Prometheus:
``job``, ``instance``) sets. The rules' syntax and behaviour are checked by
``promtool test rules ops/prometheus/alerts_test.yml`` where promtool is installed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aiopyrq import Consumer, Pool, Queue, ShardedQueue
from aiopyrq.metrics import QueueCollector
from tests.helpers import items_named

pytestmark = pytest.mark.redis

OPS = Path(__file__).resolve().parents[2] / "ops"
DASHBOARD = OPS / "grafana" / "aiopyrq.json"
ALERTS = OPS / "prometheus" / "alerts.yml"
PROMETHEUS_LABELS = {"job", "instance"}  # set by Prometheus on every scraped series


def dashboard_expressions() -> list[str]:
    """The PromQL of every panel's queries and of the template variables."""
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    variables = dashboard["templating"]["list"]
    return expressions + [v["query"]["query"] for v in variables if v["type"] == "query"]


def alert_rules() -> dict[str, str]:
    """Each rule of alerts.yml: its name and its expression (one line, or a folded block)."""
    rules: dict[str, str] = {}
    lines = ALERTS.read_text().splitlines()
    name = None
    for number, line in enumerate(lines):
        if match := re.fullmatch(r"\s*- alert: (\w+)", line):
            name = match[1]
        elif match := re.fullmatch(r"(\s*)expr: (.*)", line):
            indent, value = len(match[1]), match[2]
            if value in {">-", ">", "|", "|-"}:
                block = []
                for following in lines[number + 1 :]:
                    if len(following) - len(following.lstrip()) <= indent:
                        break
                    block.append(following.strip())
                value = " ".join(block)
            assert name is not None, line
            assert name not in rules, line
            rules[name] = value
    return rules


def names_in(expression: str) -> set[str]:
    return set(re.findall(r"\baiopyrq_[A-Za-z0-9_]+", expression))


def labels_in(expression: str) -> set[str]:
    """Labels grouped by, and labels of selectors (``{queue=~"$queue"}``)."""
    labels = set()
    for group in re.findall(r"\bby \(([^)]*)\)", expression):
        labels |= {label.strip() for label in group.split(",") if label.strip()}
    for selector in re.findall(r"\{([^}]*)\}", expression):
        labels |= set(re.findall(r"(\w+)\s*[!=]~?", selector))
    return labels


@pytest.fixture
async def exported(redis_server, client, name):
    """What the collector exports for every kind and a Consumer: {sample name: label names}."""
    queue = Queue(f"{name}-q", client, max_deliveries=1)
    await queue.add_items(items_named(5))
    await queue.reject_items(await queue.get_items(1))
    await queue.get_items(1)
    await Pool(f"{name}-p", client).add_items(items_named(3))
    sharded = ShardedQueue(f"{name}-s", client, shards=2)
    await sharded.add_items(items_named(4))

    async def handler(item: str) -> None:
        del item

    consumer = Consumer(Queue(f"{name}-q", client), handler)
    registry = CollectorRegistry()
    registry.register(
        QueueCollector(
            redis_server.url, [f"{name}-p"], consumers=[consumer], shards={f"{name}-s": 2}
        )
    )
    text = generate_latest(registry).decode()
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
            assert sample.labels.get("queue", name).startswith(name)
    return samples, text


def test_files_have_what_operators_expect():
    """The four alerts asked for are there; the dashboard has queries and variables."""
    rules = alert_rules()
    for alert in (
        "AiopyrqRedisDown",
        "AiopyrqConsumerStalled",
        "AiopyrqBacklogGrowing",
        "AiopyrqDeadLettersArriving",
    ):
        assert alert in rules, alert
    text = ALERTS.read_text()
    assert text.count("- alert: ") == len(rules) == text.count("severity: ")
    assert text.count("summary: ") == len(rules)
    assert len(dashboard_expressions()) >= 15
    assert json.loads(DASHBOARD.read_text())["uid"] == "aiopyrq"


async def test_every_metric_used_is_exported(exported):
    """Each metric and label the dashboard and the alerts use is in the collector's output."""
    samples, _ = exported
    labels = set().union(*samples.values()) | PROMETHEUS_LABELS
    expressions = {f"dashboard query {i}": e for i, e in enumerate(dashboard_expressions())}
    expressions |= alert_rules()
    used = set()
    for where, expression in expressions.items():
        names = names_in(expression)
        assert names, where  # every query reads a metric of ours
        used |= names
        assert names <= set(samples), (where, names - set(samples))
        assert labels_in(expression) <= labels, (where, labels_in(expression) - labels)
    families = {re.sub(r"_(bucket|count|sum)$", "", sample) for sample in samples}
    shown = {re.sub(r"_(bucket|count|sum)$", "", sample) for sample in used}
    assert families == shown  # every metric exported is on the dashboard or in a rule


async def test_every_metric_has_queue_and_kind(exported, name):
    """Every metric of a structure has the labels queue and kind; aiopyrq_redis_up none."""
    samples, text = exported
    for sample, labels in samples.items():
        if sample == "aiopyrq_redis_up":
            assert labels == set()
        else:
            assert {"queue", "kind"} <= labels, sample
    lines = set(text.splitlines())
    assert f'aiopyrq_pool_items{{kind="pool",queue="{name}-p"}} 3.0' in lines
    assert f'aiopyrq_waiting_items{{kind="queue",queue="{name}-q"}} 3.0' in lines
    assert f'aiopyrq_dead_letters{{kind="queue",queue="{name}-q"}} 1.0' in lines
    assert f'aiopyrq_waiting_items{{kind="queue",queue="{name}-s"}} 4.0' in lines
    assert f'aiopyrq_consumer_acked_total{{kind="queue",queue="{name}-q"}} 0.0' in lines
