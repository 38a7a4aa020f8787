locals {
  # One function per handler module lambdas/<module>.py, each exposing `handler`.
  lambda_modules = toset(["evaluator", "trigger", "run_checker", "orchestrator", "stream_router", "watchdog"])

  function_names = { for m in local.lambda_modules : m => "${var.name_prefix}-${replace(m, "_", "-")}" }

  # Built from the name rather than read from aws_sfn_state_machine.pipeline: the state machine depends
  # on the task functions, so a reference from their environment would be a dependency cycle.
  state_machine_name = "${var.name_prefix}-pipeline"
  state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"

  # Lifecycle events are published for terminal run logs, so the router needs RUNLOG# items too.
  stream_router_prefixes = distinct(concat(var.stream_router_sk_prefixes, var.enable_lifecycle_topic ? ["RUNLOG#"] : []))

  # Environment per handler. Keys are written out per module so a reader (and tests/terraform) sees
  # exactly what each function gets; every name a module lists in its ENV must appear here.
  lambda_environment = {
    evaluator = {
      INTERLOCK_CONFIG = var.interlock_config_path
      TABLE_NAME       = aws_dynamodb_table.main.name
      SNS_TOPIC_ARN    = aws_sns_topic.alerts.arn
    }
    trigger = {
      INTERLOCK_CONFIG = var.interlock_config_path
      TABLE_NAME       = aws_dynamodb_table.main.name
      SNS_TOPIC_ARN    = aws_sns_topic.alerts.arn
    }
    run_checker = {
      INTERLOCK_CONFIG = var.interlock_config_path
      TABLE_NAME       = aws_dynamodb_table.main.name
      SNS_TOPIC_ARN    = aws_sns_topic.alerts.arn
    }
    # The orchestrator starts the executions of downstream pipelines (cascade).
    orchestrator = {
      INTERLOCK_CONFIG  = var.interlock_config_path
      TABLE_NAME        = aws_dynamodb_table.main.name
      SNS_TOPIC_ARN     = aws_sns_topic.alerts.arn
      STATE_MACHINE_ARN = local.state_machine_arn
    }
    stream_router = {
      INTERLOCK_CONFIG        = var.interlock_config_path
      TABLE_NAME              = aws_dynamodb_table.main.name
      SNS_TOPIC_ARN           = aws_sns_topic.alerts.arn
      STATE_MACHINE_ARN       = local.state_machine_arn
      LIFECYCLE_TOPIC_ARN     = local.lifecycle_topic_arn
      OBSERVABILITY_TOPIC_ARN = local.observability_topic_arn
    }
    watchdog = {
      INTERLOCK_CONFIG  = var.interlock_config_path
      TABLE_NAME        = aws_dynamodb_table.main.name
      SNS_TOPIC_ARN     = aws_sns_topic.alerts.arn
      STATE_MACHINE_ARN = local.state_machine_arn
    }
  }
}

resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.lambda_modules

  name              = "/aws/lambda/${local.function_names[each.key]}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "handler" {
  for_each = local.lambda_modules
  #checkov:skip=CKV_AWS_117:The handlers reach only AWS APIs and the jobs' public endpoints; a VPC would add NAT cost and no isolation here
  #checkov:skip=CKV_AWS_272:Packages are built by `make build-lambda` in CI; Signer code signing is an account-level choice this stack does not impose

  function_name = local.function_names[each.key]
  description   = "Interlock ${each.key} handler (lambdas/${each.key}.py)"
  role          = aws_iam_role.lambda[each.key].arn
  handler       = "lambdas.${each.key}.handler"
  runtime       = "python3.12"
  architectures = ["arm64"]
  memory_size   = var.lambda_memory_size
  timeout       = var.lambda_timeout

  # `terraform validate` never reads the zip; the guard keeps `plan` working before the first build
  # (apply then fails on the missing file, which is the right place to say "run make build-lambda").
  filename         = "${var.lambda_build_dir}/${each.key}.zip"
  source_code_hash = fileexists("${var.lambda_build_dir}/${each.key}.zip") ? filebase64sha256("${var.lambda_build_dir}/${each.key}.zip") : null

  reserved_concurrent_executions = var.reserved_concurrency[each.key]
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = merge(var.lambda_environment, local.lambda_environment[each.key])
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.lambda_dlq[each.key].arn
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda[each.key].name
  }

  # The role's policy must exist before the function: Lambda checks DLQ and log permissions on create.
  depends_on = [aws_iam_role_policy.lambda]
}

# The watchdog runs again at the next tick, so a failed tick is not retried (a retry would only
# overlap the next run); it lands in the DLQ instead.
resource "aws_lambda_function_event_invoke_config" "watchdog" {
  function_name                = aws_lambda_function.handler["watchdog"].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 300
}

# Table stream → stream router. Items other than the routed prefixes, and REMOVE events (TTL
# expiry), are filtered out before any invocation is billed.
resource "aws_lambda_event_source_mapping" "table_stream" {
  event_source_arn = aws_dynamodb_table.main.stream_arn
  function_name    = aws_lambda_function.handler["stream_router"].arn
  # LATEST: the watchdog's reconcile finds whatever the fast path never saw, so there is no need to
  # replay 24 h of stream (and start stale executions) when the mapping is created.
  starting_position = "LATEST"
  batch_size        = var.stream_batch_size

  # Partial batch failures: the handler reports the failed sequence numbers, Lambda retries from
  # there, bisecting the batch to isolate a poison record, then sends it to the DLQ.
  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = var.stream_maximum_retry_attempts

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.stream_dlq.arn
    }
  }

  filter_criteria {
    filter {
      pattern = jsonencode({
        eventName = ["INSERT", "MODIFY"]
        dynamodb = {
          Keys = {
            SK = { S = [for p in local.stream_router_prefixes : { prefix = p }] }
          }
        }
      })
    }
  }

  depends_on = [aws_iam_role_policy.lambda]
}
