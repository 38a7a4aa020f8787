"""The stateful and observability resources carry their hardening: encryption, recovery, logging, alarms."""

from __future__ import annotations

import pytest

from tests.terraform.conftest import ASL_PLACEHOLDERS, Config, block, lambda_modules


def test_table_is_the_single_table_layout(tf: Config) -> None:
    table = tf.resource("aws_dynamodb_table", "main")
    assert (table["hash_key"], table["range_key"]) == ("PK", "SK")
    assert {a["name"]: a["type"] for a in table["attribute"]} == {"PK": "S", "SK": "S", "GSI1PK": "S", "GSI1SK": "S"}
    (gsi,) = table["global_secondary_index"]
    assert gsi == {"name": "GSI1", "hash_key": "GSI1PK", "range_key": "GSI1SK", "projection_type": "ALL"}
    assert table["billing_mode"] == "PAY_PER_REQUEST"


def test_table_has_stream_ttl_pitr_sse_and_deletion_protection(tf: Config) -> None:
    table = tf.resource("aws_dynamodb_table", "main")
    assert table["stream_enabled"] is True
    assert table["stream_view_type"] == "NEW_AND_OLD_IMAGES"
    assert block(table, "ttl") == {"attribute_name": "ttl", "enabled": True}
    assert block(table, "point_in_time_recovery") == {"enabled": True}
    assert block(table, "server_side_encryption") == {"enabled": True, "kms_key_arn": "${aws_kms_key.main.arn}"}
    assert table["deletion_protection_enabled"] is True


def test_stack_key_rotates(tf: Config) -> None:
    key = tf.resource("aws_kms_key", "main")
    assert key["enable_key_rotation"] is True
    assert key["policy"] == "${data.aws_iam_policy_document.kms.json}"


def test_state_machine_is_standard_with_logging_tracing_and_the_five_arns(tf: Config) -> None:
    machine = tf.resource("aws_sfn_state_machine", "pipeline")
    assert machine["type"] == "STANDARD"
    logging = block(machine, "logging_configuration")
    assert logging["log_destination"] == "${aws_cloudwatch_log_group.sfn.arn}:*"
    assert logging["include_execution_data"] is True
    assert logging["level"] == "${var.sfn_log_level}"
    assert tf.variables["sfn_log_level"]["default"] in {"ERROR", "ALL"}
    assert block(machine, "tracing_configuration") == {"enabled": True}
    definition = machine["definition"]
    assert definition.startswith('${templatefile("${path.module}/statemachine.asl.json", {')
    for placeholder in ASL_PLACEHOLDERS:
        assert f"{placeholder} = " in definition or f'"{placeholder}": ' in definition, placeholder
    group = tf.resource("aws_cloudwatch_log_group", "sfn")
    assert group["kms_key_id"] == "${aws_kms_key.main.arn}"
    assert group["retention_in_days"] == "${var.log_retention_days}"


@pytest.mark.parametrize("topic", ["alerts", "lifecycle", "observability"])
def test_topics_are_encrypted_with_the_stack_key(tf: Config, topic: str) -> None:
    assert tf.resource("aws_sns_topic", topic)["kms_master_key_id"] == "${aws_kms_key.main.arn}"


def test_optional_topics_are_behind_variables(tf: Config) -> None:
    assert tf.resource("aws_sns_topic", "lifecycle")["count"] == "${var.enable_lifecycle_topic ? 1 : 0}"
    assert tf.resource("aws_sns_topic", "observability")["count"] == "${var.enable_observability_topic ? 1 : 0}"
    assert tf.variables["enable_lifecycle_topic"]["default"] is False
    assert tf.variables["enable_observability_topic"]["default"] is False


@pytest.mark.parametrize("queue", ["lambda_dlq", "stream_dlq"])
def test_dead_letter_queues_are_encrypted_with_the_stack_key(tf: Config, queue: str) -> None:
    assert tf.resource("aws_sqs_queue", queue)["kms_master_key_id"] == "${aws_kms_key.main.arn}"
    assert tf.resource("aws_sqs_queue", "lambda_dlq")["for_each"] == "${local.lambda_modules}"


def test_alarms_cover_errors_dlqs_failed_executions_and_iterator_age(tf: Config) -> None:
    alarms = tf.resources("aws_cloudwatch_metric_alarm")
    errors = alarms["lambda_errors"]
    assert (errors["namespace"], errors["metric_name"], errors["for_each"]) == (
        "AWS/Lambda",
        "Errors",
        "${local.lambda_modules}",
    )
    dlq = alarms["dlq_depth"]
    assert (dlq["namespace"], dlq["metric_name"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert "aws_sqs_queue.lambda_dlq" in tf.locals["dlq_names"] and "aws_sqs_queue.stream_dlq" in tf.locals["dlq_names"]
    sfn = alarms["sfn_failures"]
    assert sfn["namespace"] == "AWS/States" and "ExecutionsFailed" in sfn["for_each"]
    age = alarms["stream_iterator_age"]
    assert (age["namespace"], age["metric_name"]) == ("AWS/Lambda", "IteratorAge")
    assert age["dimensions"] == {"FunctionName": '${aws_lambda_function.handler["stream_router"].function_name}'}
    for name, alarm in alarms.items():
        assert alarm["alarm_actions"] == "${local.alarm_actions}", f"alarm {name} notifies nobody"


def test_variables_are_typed_and_described(tf: Config) -> None:
    for name, variable in tf.variables.items():
        assert variable.get("description"), f"variable {name} has no description"
        assert variable.get("type"), f"variable {name} has no type"
    for required in (
        "name_prefix",
        "aws_region",
        "table_name",
        "lambda_build_dir",
        "log_retention_days",
        "reserved_concurrency",
        "watchdog_interval",
        "stream_router_sk_prefixes",
        "tags",
    ):
        assert required in tf.variables


def test_outputs_name_what_an_operator_needs(tf: Config) -> None:
    outputs = tf.outputs
    for name in ("table_name", "table_arn", "state_machine_arn", "alert_topic_arn", "function_names"):
        assert outputs[name].get("description"), name
    assert outputs["function_names"]["value"] == "${{for m, f in aws_lambda_function.handler : m => f.function_name}}"
    assert len(lambda_modules(tf)) == 6
