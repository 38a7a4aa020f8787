# Every alarm notifies the alert topic (plus var.alarm_actions), so infrastructure failures reach the
# same people as pipeline alerts. Missing data is "not breaching": no invocations is not an incident.

locals {
  alarm_actions = concat([aws_sns_topic.alerts.arn], var.alarm_actions)
  dlq_names     = merge({ for m, q in aws_sqs_queue.lambda_dlq : m => q.name }, { stream_router_stream = aws_sqs_queue.stream_dlq.name })
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = local.lambda_modules

  alarm_name          = "${local.function_names[each.key]}-errors"
  alarm_description   = "The ${each.key} Lambda raised errors: see its log group."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.handler[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = local.dlq_names

  alarm_name          = "${each.value}-depth"
  alarm_description   = "Messages in ${each.value}: failed invocations or stream records nothing will retry."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "sfn_failures" {
  for_each = toset(["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"])

  alarm_name          = "${local.state_machine_name}-${lower(each.key)}"
  alarm_description   = "Pipeline executions ended in ${each.key}: see the state machine's execution history."
  namespace           = "AWS/States"
  metric_name         = each.key
  dimensions          = { StateMachineArn = aws_sfn_state_machine.pipeline.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# A growing iterator age means markers wait in the stream: the fast path has become slow.
resource "aws_cloudwatch_metric_alarm" "stream_iterator_age" {
  alarm_name          = "${local.function_names["stream_router"]}-iterator-age"
  alarm_description   = "The stream router lags the table stream by more than ${var.stream_iterator_age_alarm_ms} ms."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.handler["stream_router"].function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.stream_iterator_age_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
