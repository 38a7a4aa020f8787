# One customer-managed key encrypts everything at rest: the table, the topics, the queues, the log
# groups and the Lambda environments. A CMK (not the AWS-owned default) makes key use auditable in
# CloudTrail and lets an operator revoke access in one place.
resource "aws_kms_key" "main" {
  description             = "${var.name_prefix}: data at rest (DynamoDB, SNS, SQS, logs, Lambda env)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  # In a key policy "*" means "this key". The account statement delegates use of the key to IAM, so
  # the per-role policies in iam.tf decide who may encrypt and decrypt.
  #checkov:skip=CKV_AWS_109:Key policy: "*" is this key, and the account root statement is what lets IAM policies grant its use
  #checkov:skip=CKV_AWS_111:Key policy: "*" is this key, and the account root statement is what lets IAM policies grant its use
  #checkov:skip=CKV_AWS_356:Key policy: "*" is this key, the only resource a key policy can name
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts log groups with the key itself, so the service principal needs it,
  # restricted to this account's log groups.
  statement {
    sid       = "CloudWatchLogsEncryptLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # CloudWatch alarms publish to the encrypted alert topic as the cloudwatch service principal.
  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}
