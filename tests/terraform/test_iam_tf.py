"""Least privilege: each role's policy names its resources; "*" only where AWS allows nothing else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.terraform.conftest import ROOT, Config, lambda_modules, string_list

# Actions that have no resource-level permissions, so AWS requires Resource "*" for them:
# - X-Ray trace upload and sampling (Lambda active tracing, Step Functions tracing);
# - dynamodb:ListStreams (the event source mapping checks the role can call it);
# - the CloudWatch Logs delivery APIs Step Functions uses to write execution logs.
STAR_ONLY_ACTIONS = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "dynamodb:ListStreams",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
)
# Policy documents attached to roles (the KMS key policy is not one: there "*" means the key itself).
ROLE_POLICIES = ("lambda", "sfn")
SFN_TASK_FUNCTIONS = ("orchestrator", "evaluator", "trigger", "run_checker")


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement of a policy document, static and dynamic (the dynamic block's content)."""
    yield from document.get("statement", [])
    for dynamic in document.get("dynamic", []):
        yield from dynamic.get("statement", {}).get("content", [])


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for s in statements(document) if "sid" in s}


@pytest.fixture(scope="module")
def lambda_policy(tf: Config) -> dict[str, Any]:
    return tf.data("aws_iam_policy_document")["lambda"]


@pytest.fixture(scope="module")
def sfn_policy(tf: Config) -> dict[str, Any]:
    return tf.data("aws_iam_policy_document")["sfn"]


def test_every_role_policy_is_one_of_the_checked_documents(tf: Config) -> None:
    attached = {name: body["policy"] for name, body in tf.resources("aws_iam_role_policy").items()}
    assert attached == {
        "lambda": "${data.aws_iam_policy_document.lambda[each.key].json}",
        "sfn": "${data.aws_iam_policy_document.sfn.json}",
    }
    # Managed policies (AWSLambdaBasicExecutionRole grants logs:CreateLogGroup on "*") are not used.
    assert not tf.resources("aws_iam_role_policy_attachment")
    assert not tf.resources("aws_iam_policy")
    assert tf.resource("aws_iam_role", "lambda")["for_each"] == "${local.lambda_modules}"


@pytest.mark.parametrize("document", ROLE_POLICIES)
def test_star_resource_only_for_actions_aws_cannot_scope(tf: Config, document: str) -> None:
    policy = tf.data("aws_iam_policy_document")[document]
    for statement in statements(policy):
        actions = statement["actions"]
        assert isinstance(actions, list | str)
        for action in actions if isinstance(actions, list) else []:
            assert "*" not in action, f"{document}/{statement.get('sid')}: wildcard action {action}"
        resources = statement["resources"]
        if "*" in (resources if isinstance(resources, list) else [resources]):
            extra = set(actions) - STAR_ONLY_ACTIONS
            assert not extra, f'{document}/{statement.get("sid")}: {sorted(extra)} granted on Resource "*"'
    # A dynamic block could smuggle "*" in through its for_each value.
    for dynamic in policy.get("dynamic", []):
        assert '"*"' not in dynamic["statement"]["for_each"]


def test_lambda_policy_names_its_own_log_group_queue_table_and_key(lambda_policy: dict[str, Any]) -> None:
    sids = by_sid(lambda_policy)
    assert sids["WriteOwnLogs"]["resources"] == ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]
    assert "logs:CreateLogGroup" not in sids["WriteOwnLogs"]["actions"]
    assert sids["Table"]["resources"] == ["${aws_dynamodb_table.main.arn}", "${aws_dynamodb_table.main.arn}/index/*"]
    assert sids["DeadLetterQueue"]["resources"] == ["${aws_sqs_queue.lambda_dlq[each.key].arn}"]
    assert sids["StackKey"]["resources"] == ["${aws_kms_key.main.arn}"]
    assert sids["PublishAlerts"] == {
        "sid": "PublishAlerts",
        "actions": ["sns:Publish"],
        "resources": ["${aws_sns_topic.alerts.arn}"],
    }


def test_table_actions_are_item_level_only(tf: Config, lambda_policy: dict[str, Any]) -> None:
    assert by_sid(lambda_policy)["Table"]["actions"] == "${local.dynamodb_actions}"
    granted = string_list(tf.locals["dynamodb_read"]) + string_list(tf.locals["dynamodb_write"])
    assert all(a.startswith("dynamodb:") for a in granted)
    # No table administration and no Scan (reads are by key or GSI1).
    for forbidden in ("dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:CreateTable"):
        assert forbidden not in granted


def test_only_execution_starters_may_start_this_state_machine(tf: Config, lambda_policy: dict[str, Any]) -> None:
    start = by_sid(lambda_policy)["StartPipelineExecutions"]
    assert start["actions"] == ["states:StartExecution"]
    assert start["resources"] == ["${local.state_machine_arn}"]
    dynamic = next(d["statement"] for d in lambda_policy["dynamic"] if d["statement"]["content"][0] is start)
    assert dynamic["for_each"] == "${contains(local.execution_starters, each.key) ? [1] : []}"
    assert sorted(string_list(tf.locals["execution_starters"])) == ["orchestrator", "stream_router", "watchdog"]
    # Each of them is told which state machine (and the others are not).
    for module in lambda_modules(tf):
        has_arn = "STATE_MACHINE_ARN" in tf.locals["lambda_environment"][module]
        assert has_arn == (module in string_list(tf.locals["execution_starters"])), module


def test_only_the_stream_router_reads_the_stream(lambda_policy: dict[str, Any]) -> None:
    for dynamic in lambda_policy["dynamic"]:
        content = dynamic["statement"]["content"][0]
        if content["sid"] in {"ReadTableStream", "ListTableStreams", "StreamFailureQueue", "PublishStreamEvents"}:
            assert dynamic["statement"]["for_each"].startswith('${each.key == "stream_router"'), content["sid"]
    assert by_sid(lambda_policy)["ReadTableStream"]["resources"] == ["${aws_dynamodb_table.main.stream_arn}"]


def test_job_statements_reach_trigger_and_run_checker_only(tf: Config, lambda_policy: dict[str, Any]) -> None:
    dynamics = [d["statement"] for d in lambda_policy["dynamic"]]
    (jobs,) = [d for d in dynamics if "var.trigger_iam_statements" in d["for_each"]]
    assert jobs["for_each"] == "${contains(local.job_modules, each.key) ? var.trigger_iam_statements : []}"
    assert sorted(string_list(tf.locals["job_modules"])) == ["run_checker", "trigger"]


@pytest.mark.parametrize("variable", ["trigger_iam_statements", "alert_iam_statements"])
def test_operator_supplied_statements_refuse_star(tf: Config, variable: str) -> None:
    # Their resources come from tfvars, so the "*" rule is enforced by the variable's validation.
    (validation,) = tf.variables[variable]["validation"]
    assert re.fullmatch(
        rf'\$\{{alltrue\(\[for s in var\.{variable} : !contains\(s\.resources, "\*"\)\]\)\}}', validation["condition"]
    ), validation["condition"]
    assert tf.variables[variable]["default"] == []


def test_table_actions_cover_every_call_the_dynamodb_store_makes(tf: Config) -> None:
    store = ROOT / "interlock" / "store" / "dynamodb.py"
    if not store.exists():
        pytest.skip("interlock/store/dynamodb.py is not written yet (another engineer owns it); re-run when it lands")
    granted = set(string_list(tf.locals["dynamodb_read"]) + string_list(tf.locals["dynamodb_write"]))
    calls = set(re.findall(r"self\.c\.([a-z_]+)\(", store.read_text())) - {"close"}
    assert calls, "found no client calls in interlock/store/dynamodb.py: has its client attribute been renamed?"
    for call in sorted(calls):
        if call == "transact_write_items":
            # Authorised per contained operation, not as an action of its own.
            needed = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"}
        else:
            needed = {"dynamodb:" + "".join(part.capitalize() for part in call.split("_"))}
        assert needed <= granted, f"the store calls {call} but the roles lack {sorted(needed - granted)}"


def test_state_machine_role_invokes_exactly_the_four_task_functions(sfn_policy: dict[str, Any]) -> None:
    sids = by_sid(sfn_policy)
    invoke = sids["InvokeTaskFunctions"]
    assert invoke["actions"] == ["lambda:InvokeFunction"]
    assert invoke["resources"] == [f'${{aws_lambda_function.handler["{m}"].arn}}' for m in SFN_TASK_FUNCTIONS]
    assert sids["PublishAlerts"]["resources"] == ["${aws_sns_topic.alerts.arn}"]
    lambda_actions = [a for s in statements(sfn_policy) for a in s["actions"] if a.startswith("lambda:")]
    assert lambda_actions == ["lambda:InvokeFunction"]


def test_roles_trust_only_their_service_in_this_account(tf: Config) -> None:
    docs = tf.data("aws_iam_policy_document")
    for name, service in (("lambda_assume", "lambda.amazonaws.com"), ("sfn_assume", "states.amazonaws.com")):
        (statement,) = docs[name]["statement"]
        assert statement["principals"] == [{"type": "Service", "identifiers": [service]}]
        assert statement["condition"][0]["variable"] == "aws:SourceAccount"
