# One role per function, granting only what that handler does. The rule for "*" resources: only
# actions that AWS does not scope to a resource (X-Ray trace upload, dynamodb:ListStreams, the
# CloudWatch Logs delivery APIs Step Functions uses) get one; tests/terraform enforces it.

locals {
  dynamodb_read  = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"]
  dynamodb_write = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]

  # Every handler reads and writes the table: each container upserts the bundled pipelines on start
  # (lambdas/runtime.py) and the alert dispatcher records its once-only keys. Transactions are
  # authorised by the Put, Update and ConditionCheck actions they contain. No Scan: every read is by
  # key or GSI1.
  dynamodb_actions = concat(local.dynamodb_read, local.dynamodb_write)

  # Handlers that start pipeline executions: the stream router (pushed input), the watchdog
  # (reconcile), the orchestrator (cascade to downstream pipelines).
  execution_starters = toset(["orchestrator", "stream_router", "watchdog"])
  # Handlers that start or poll the external jobs.
  job_modules = toset(["trigger", "run_checker"])

  stream_topic_arns = compact([local.lifecycle_topic_arn, local.observability_topic_arn])
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.lambda_modules

  name               = local.function_names[each.key]
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "lambda" {
  for_each = local.lambda_modules

  # The log group is created by Terraform, so no logs:CreateLogGroup (and no "*") is needed.
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]
  }

  # X-Ray trace upload has no resource-level permissions: AWS requires "*".
  statement {
    sid       = "XRayTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }

  statement {
    sid       = "Table"
    actions   = local.dynamodb_actions
    resources = [aws_dynamodb_table.main.arn, "${aws_dynamodb_table.main.arn}/index/*"]
  }

  # Lambda delivers failed async events to the DLQ with the function's own role.
  statement {
    sid       = "DeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.lambda_dlq[each.key].arn]
  }

  # The table, topics, queues and environment are encrypted with the stack key.
  statement {
    sid       = "StackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }

  # Every handler's alert dispatcher publishes to the alert topic (SNS_TOPIC_ARN).
  statement {
    sid       = "PublishAlerts"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }

  dynamic "statement" {
    for_each = contains(local.execution_starters, each.key) ? [1] : []
    content {
      sid       = "StartPipelineExecutions"
      actions   = ["states:StartExecution"]
      resources = [local.state_machine_arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "stream_router" ? [1] : []
    content {
      sid       = "ReadTableStream"
      actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
      resources = [aws_dynamodb_table.main.stream_arn]
    }
  }

  # dynamodb:ListStreams has no resource-level permissions: AWS requires "*". The event source
  # mapping checks the role can call it.
  dynamic "statement" {
    for_each = each.key == "stream_router" ? [1] : []
    content {
      sid       = "ListTableStreams"
      actions   = ["dynamodb:ListStreams"]
      resources = ["*"]
    }
  }

  # The event source mapping sends failed batches to the stream DLQ with the function's role.
  dynamic "statement" {
    for_each = each.key == "stream_router" ? [1] : []
    content {
      sid       = "StreamFailureQueue"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.stream_dlq.arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "stream_router" && length(local.stream_topic_arns) > 0 ? [1] : []
    content {
      sid       = "PublishStreamEvents"
      actions   = ["sns:Publish"]
      resources = local.stream_topic_arns
    }
  }

  # Starting and polling the pipelines' jobs (Glue, EMR, nested Step Functions ...), named by ARN.
  dynamic "statement" {
    for_each = contains(local.job_modules, each.key) ? var.trigger_iam_statements : []
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }

  # Alert sinks configured in interlock.yaml (every handler's dispatcher may send to them).
  dynamic "statement" {
    for_each = var.alert_iam_statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.lambda_modules

  name   = "${local.function_names[each.key]}-least-privilege"
  role   = aws_iam_role.lambda[each.key].id
  policy = data.aws_iam_policy_document.lambda[each.key].json
}

# ---- Step Functions -------------------------------------------------------------------------------

data "aws_iam_policy_document" "sfn_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sfn" {
  name               = "${var.name_prefix}-sfn"
  assume_role_policy = data.aws_iam_policy_document.sfn_assume.json
}

data "aws_iam_policy_document" "sfn" {
  # Exactly the four task functions the ASL names; stream_router and watchdog are never invoked by it.
  statement {
    sid     = "InvokeTaskFunctions"
    actions = ["lambda:InvokeFunction"]
    resources = [
      aws_lambda_function.handler["orchestrator"].arn,
      aws_lambda_function.handler["evaluator"].arn,
      aws_lambda_function.handler["trigger"].arn,
      aws_lambda_function.handler["run_checker"].arn,
    ]
  }

  # The ASL's alert states publish to the alert topic directly.
  statement {
    sid       = "PublishAlerts"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }

  statement {
    sid       = "StackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }

  # CloudWatch Logs delivery for Step Functions works through these account-level APIs, which have no
  # resource-level permissions: AWS documents them with "*".
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  # X-Ray trace upload has no resource-level permissions: AWS requires "*".
  statement {
    sid       = "XRayTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "sfn" {
  name   = "${var.name_prefix}-sfn-least-privilege"
  role   = aws_iam_role.sfn.id
  policy = data.aws_iam_policy_document.sfn.json
}
