output "table_name" {
  description = "DynamoDB table holding Interlock's state (TABLE_NAME of every function)."
  value       = aws_dynamodb_table.main.name
}

output "table_arn" {
  description = "ARN of the DynamoDB table."
  value       = aws_dynamodb_table.main.arn
}

output "table_stream_arn" {
  description = "ARN of the table's stream (feeds the stream router)."
  value       = aws_dynamodb_table.main.stream_arn
}

output "state_machine_arn" {
  description = "ARN of the pipeline state machine."
  value       = aws_sfn_state_machine.pipeline.arn
}

output "alert_topic_arn" {
  description = "SNS topic receiving alerts; subscribe people or a chat integration to it."
  value       = aws_sns_topic.alerts.arn
}

output "lifecycle_topic_arn" {
  description = "SNS topic of run lifecycle events, or null when enable_lifecycle_topic is false."
  value       = var.enable_lifecycle_topic ? aws_sns_topic.lifecycle[0].arn : null
}

output "observability_topic_arn" {
  description = "SNS topic of observability events, or null when enable_observability_topic is false."
  value       = var.enable_observability_topic ? aws_sns_topic.observability[0].arn : null
}

output "function_names" {
  description = "Lambda function name per handler module."
  value       = { for m, f in aws_lambda_function.handler : m => f.function_name }
}

output "dead_letter_queue_urls" {
  description = "DLQ URL per handler module, plus the stream router's stream failure queue."
  value       = merge({ for m, q in aws_sqs_queue.lambda_dlq : m => q.url }, { stream_router_stream = aws_sqs_queue.stream_dlq.url })
}

output "kms_key_arn" {
  description = "Customer-managed KMS key encrypting the stack's data at rest."
  value       = aws_kms_key.main.arn
}
