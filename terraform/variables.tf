variable "name_prefix" {
  description = "Prefix of every resource name (functions, roles, topics, queues, the state machine)."
  type        = string
  default     = "interlock"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 1-40 letters, digits or hyphens (it ends up in Lambda and IAM role names)."
  }
}

variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "ap-southeast-1"
}

variable "table_name" {
  description = "Name of the DynamoDB single table; null means the name prefix."
  type        = string
  default     = null
}

variable "lambda_build_dir" {
  description = "Directory holding <module>.zip for each handler (written by `make build-lambda`), relative to where terraform runs."
  type        = string
  default     = "../dist/lambda"
}

variable "interlock_config_path" {
  description = "Path of the pipeline YAML inside the Lambda package (the same interlock.yaml that runs locally)."
  type        = string
  default     = "/var/task/config/interlock.yaml"
}

variable "lambda_memory_size" {
  description = "Memory of every Lambda, in MB."
  type        = number
  default     = 256
}

variable "lambda_timeout" {
  description = "Timeout of every Lambda, in seconds."
  type        = number
  default     = 60
}

variable "lambda_environment" {
  description = "Extra environment variables for every Lambda (e.g. INTERLOCK_* values the trigger config expands). The per-handler variables win on a name clash."
  type        = map(string)
  default     = {}
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions per handler module; -1 removes the reservation. The account keeps at least 100 unreserved."
  type        = map(number)
  default = {
    evaluator     = 20
    trigger       = 10
    run_checker   = 10
    orchestrator  = 20
    stream_router = 10
    # One watchdog at a time: overlapping scans would only race each other for the same alerts.
    watchdog = 1
  }

  validation {
    condition = alltrue([
      for m in ["evaluator", "trigger", "run_checker", "orchestrator", "stream_router", "watchdog"] :
      contains(keys(var.reserved_concurrency), m)
    ])
    error_message = "reserved_concurrency needs a value for each of evaluator, trigger, run_checker, orchestrator, stream_router, watchdog."
  }
}

variable "log_retention_days" {
  description = "Retention of the Lambda and state machine log groups, in days."
  type        = number
  # A year: the logs are the audit trail of why a pipeline did or did not run.
  default = 365
}

variable "sfn_log_level" {
  description = "Step Functions execution log level: ALL, ERROR or FATAL."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL"], var.sfn_log_level)
    error_message = "sfn_log_level must be ALL, ERROR or FATAL."
  }
}

variable "watchdog_interval" {
  description = "EventBridge schedule expression for the watchdog (missed schedules, stuck runs, reconcile)."
  type        = string
  default     = "rate(5 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.watchdog_interval))
    error_message = "watchdog_interval must be an EventBridge expression such as \"rate(5 minutes)\" or \"cron(0/5 * * * ? *)\"."
  }
}

variable "stream_router_sk_prefixes" {
  description = "Sort-key prefixes of the table items whose INSERT/MODIFY the stream router receives: markers and pushed trait results (the event source mapping filters out the rest)."
  type        = list(string)
  default     = ["MARKER#", "PUSHED#"]

  validation {
    condition     = length(var.stream_router_sk_prefixes) > 0 && alltrue([for p in var.stream_router_sk_prefixes : length(p) > 0])
    error_message = "stream_router_sk_prefixes needs at least one non-empty prefix."
  }
}

variable "stream_batch_size" {
  description = "Stream records per stream-router invocation."
  type        = number
  default     = 10
}

variable "stream_maximum_retry_attempts" {
  description = "Retries of a failing stream batch (halved each time by bisect) before its records go to the stream DLQ."
  type        = number
  default     = 3
}

variable "enable_lifecycle_topic" {
  description = "Create an SNS topic for run lifecycle events (terminal run logs) and pass it to the stream router as LIFECYCLE_TOPIC_ARN."
  type        = bool
  default     = false
}

variable "enable_observability_topic" {
  description = "Create an SNS topic for observability events and pass it to the stream router as OBSERVABILITY_TOPIC_ARN."
  type        = bool
  default     = false
}

variable "trigger_iam_statements" {
  description = "Extra IAM statements for the trigger and run_checker roles, to start and poll the jobs pipelines trigger (Glue, EMR, Step Functions ...). Name explicit ARNs."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.trigger_iam_statements : !contains(s.resources, "*")])
    error_message = "trigger_iam_statements must name explicit resource ARNs, not \"*\"."
  }
}

variable "alert_iam_statements" {
  description = "Extra IAM statements for every handler, for alert sinks the bundled config names besides SNS_TOPIC_ARN (an S3 bucket, another topic). Name explicit ARNs."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.alert_iam_statements : !contains(s.resources, "*")])
    error_message = "alert_iam_statements must name explicit resource ARNs, not \"*\"."
  }
}

variable "alarm_actions" {
  description = "Extra ARNs notified when an alarm fires (the alert topic always is)."
  type        = list(string)
  default     = []
}

variable "stream_iterator_age_alarm_ms" {
  description = "Alarm when the stream router falls this far behind the table stream, in milliseconds."
  type        = number
  default     = 60000
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = { Application = "interlock" }
}
