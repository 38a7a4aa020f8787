"""Rules on pushed results: "PASS only if the pushed count is at least 1 000" (interlock.rules)."""

from __future__ import annotations

from interlock.model import EventKind, ReadinessStatus, TraitStatus
from interlock.steps.evaluate import evaluate
from interlock.steps.push import push_trait
from tests.steps.conftest import Harness

PIPELINE = """\
name: orders
archetype: a
traits:
  count:
    config:
      rules: [{field: count, check: gte, value: 1000}]
"""


def test_a_pushed_pass_counts_only_when_the_rules_hold(harness: Harness) -> None:
    harness.archetype("a", ["count"])
    (harness.root / "pipelines" / "orders.yaml").write_text(PIPELINE)
    deps = harness.deps()
    push_trait(deps, "orders", "count", "PASS", value={"count": 999}, reason="loaded")
    blocked = evaluate(deps, "orders").result
    assert (blocked.status, blocked.blocking) == (ReadinessStatus.NOT_READY, ["count"])
    trait = blocked.traits[0]
    assert (trait.status, trait.reason, trait.value) == (
        TraitStatus.FAIL, "rule 1 (count gte 1000) did not hold: count is 999", {"count": 999})
    event = next(r.event for r in harness.store.list_events("orders", 50) if r.event.kind is EventKind.TRAIT_EVALUATED)
    assert (event.status, event.message) == ("FAIL", "rule 1 (count gte 1000) did not hold: count is 999")

    push_trait(deps, "orders", "count", "PASS", value={"count": 1000})
    assert evaluate(deps, "orders").result.status is ReadinessStatus.READY


def test_a_pushed_pass_without_the_field_fails_naming_it(harness: Harness) -> None:
    harness.archetype("a", ["count"])
    (harness.root / "pipelines" / "orders.yaml").write_text(PIPELINE)
    deps = harness.deps()
    push_trait(deps, "orders", "count", "PASS")
    trait = evaluate(deps, "orders").result.traits[0]
    assert (trait.status, trait.reason) == (TraitStatus.FAIL,
                                            "rule 1 (count gte 1000) did not hold: count is missing (fields: none)")
