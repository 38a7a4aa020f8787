# Alerts from the handlers' alert dispatcher, the state machine's own error states, and the alarms.
resource "aws_sns_topic" "alerts" {
  name              = "${var.name_prefix}-alerts"
  kms_master_key_id = aws_kms_key.main.arn
}

# Opt-in: run lifecycle events (terminal run logs), for the stream router to publish.
resource "aws_sns_topic" "lifecycle" {
  count             = var.enable_lifecycle_topic ? 1 : 0
  name              = "${var.name_prefix}-lifecycle"
  kms_master_key_id = aws_kms_key.main.arn
}

# Opt-in: observability events, for the stream router to publish.
resource "aws_sns_topic" "observability" {
  count             = var.enable_observability_topic ? 1 : 0
  name              = "${var.name_prefix}-observability"
  kms_master_key_id = aws_kms_key.main.arn
}

locals {
  # Passed to the stream router as LIFECYCLE_TOPIC_ARN / OBSERVABILITY_TOPIC_ARN; empty means off.
  lifecycle_topic_arn     = var.enable_lifecycle_topic ? aws_sns_topic.lifecycle[0].arn : ""
  observability_topic_arn = var.enable_observability_topic ? aws_sns_topic.observability[0].arn : ""
}
