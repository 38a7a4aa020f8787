# Dead-letter queues. Nothing consumes them automatically: a message here is a failure an operator
# must look at, and alarms.tf pages on any message arriving.

# One per function, for asynchronous invocations (EventBridge → watchdog) that failed every retry.
resource "aws_sqs_queue" "lambda_dlq" {
  for_each = local.lambda_modules

  name                      = "${local.function_names[each.key]}-dlq"
  kms_master_key_id         = aws_kms_key.main.arn
  message_retention_seconds = 1209600 # 14 days, the SQS maximum: time to investigate
}

# Stream records the stream router failed on after bisecting and retrying (metadata of the failed
# batch: shard, sequence numbers; the records themselves stay readable in the stream for 24 h).
resource "aws_sqs_queue" "stream_dlq" {
  name                      = "${var.name_prefix}-stream-router-failures"
  kms_master_key_id         = aws_kms_key.main.arn
  message_retention_seconds = 1209600
}
