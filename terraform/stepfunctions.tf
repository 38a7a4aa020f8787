# The pipeline lifecycle: evaluate → trigger → poll → complete → monitor. The ASL lives
# beside this file; templatefile fills in its five ARNs.
resource "aws_cloudwatch_log_group" "sfn" {
  # The /aws/vendedlogs/ prefix keeps Step Functions from growing the account's log resource policy.
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_sfn_state_machine" "pipeline" {
  name     = local.state_machine_name
  role_arn = aws_iam_role.sfn.arn
  # STANDARD: executions run for hours (job polling, monitoring) and the execution name is the
  # exactly-once key for a (pipeline, date, schedule); EXPRESS has neither.
  type = "STANDARD"

  definition = templatefile("${path.module}/statemachine.asl.json", {
    OrchestratorFunctionArn = aws_lambda_function.handler["orchestrator"].arn
    EvaluatorFunctionArn    = aws_lambda_function.handler["evaluator"].arn
    TriggerFunctionArn      = aws_lambda_function.handler["trigger"].arn
    RunCheckerFunctionArn   = aws_lambda_function.handler["run_checker"].arn
    AlertTopicArn           = aws_sns_topic.alerts.arn
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.sfn.arn}:*"
    include_execution_data = true
    level                  = var.sfn_log_level
  }

  tracing_configuration {
    enabled = true
  }

  depends_on = [aws_iam_role_policy.sfn]
}
