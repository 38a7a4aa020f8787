# The level-triggered loop on AWS: the watchdog re-derives due work (missed schedules, stuck runs,
# monitoring expiry) from the table on every tick, whatever the stream fast path did or missed.
resource "aws_cloudwatch_event_rule" "watchdog" {
  name                = "${var.name_prefix}-watchdog"
  description         = "Runs the Interlock watchdog"
  schedule_expression = var.watchdog_interval
}

resource "aws_cloudwatch_event_target" "watchdog" {
  rule = aws_cloudwatch_event_rule.watchdog.name
  arn  = aws_lambda_function.handler["watchdog"].arn

  # A tick that could not be delivered within one interval is superseded by the next one.
  retry_policy {
    maximum_event_age_in_seconds = 300
    maximum_retry_attempts       = 2
  }
}

resource "aws_lambda_permission" "watchdog_events" {
  statement_id   = "AllowEventBridgeInvoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.handler["watchdog"].function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.watchdog.arn
  source_account = local.account_id
}
