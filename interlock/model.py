"""The domain: enumerations, configuration types and the records Interlock stores.

One spelling everywhere: the keys a pipeline file uses in YAML are the keys the API and the store
use in JSON. Top-level fields are camelCase (``maxAttempts``); the trigger variant blocks keep the
reference's snake_case (``trigger.airflow.dag_id``, ``trigger.emr_serverless``). The reference's
camelCase JSON spelling of those blocks (``dagId``, ``emrServerless``) is still *accepted* on input
so existing clients keep working, but it is never written.

Configuration models reject unknown keys (a typo must not silently disable a setting); stored
records ignore them, so a newer writer does not break an older reader.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)
from pydantic.alias_generators import to_camel

from interlock import timeutil
from interlock.cron import check_cron
from interlock.eventsize import cap_details
from interlock.timetypes import Deadline, Duration, ForceAt, PositiveDuration, TimeOfDay, TimeZone

# --------------------------------------------------------------------------------------------------
# Enumerations. Values are the reference's, case-sensitive.


class TraitStatus(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    STALE = "STALE"


class ReadinessStatus(StrEnum):
    READY = "READY"
    NOT_READY = "NOT_READY"


class RunStatus(StrEnum):
    PENDING = "PENDING"
    TRIGGERING = "TRIGGERING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    COMPLETED_MONITORING = "COMPLETED_MONITORING"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class ReadinessRuleType(StrEnum):
    ALL_REQUIRED_PASS = "all-required-pass"
    MAJORITY_PASS = "majority-pass"


class TriggerType(StrEnum):
    HTTP = "http"
    COMMAND = "command"
    AIRFLOW = "airflow"
    GLUE = "glue"
    EMR = "emr"
    EMR_SERVERLESS = "emr-serverless"
    DATABRICKS = "databricks"
    DAGSTER = "dagster"
    PREFECT = "prefect"
    STEP_FUNCTION = "step-function"
    DBT_CLOUD = "dbt-cloud"
    LAMBDA = "lambda"
    PLUGIN = "plugin"  # a trigger type from an installed package (interlock.plugins)


class AlertType(StrEnum):
    CONSOLE = "console"
    WEBHOOK = "webhook"
    FILE = "file"
    SNS = "sns"
    S3 = "s3"
    SLACK = "slack"


class AlertLevel(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class FailureCategory(StrEnum):
    TRANSIENT = "TRANSIENT"
    PERMANENT = "PERMANENT"
    TIMEOUT = "TIMEOUT"
    EVALUATOR_CRASH = "EVALUATOR_CRASH"


class EventKind(StrEnum):
    TRAIT_EVALUATED = "TRAIT_EVALUATED"
    READINESS_CHECKED = "READINESS_CHECKED"
    TRIGGER_FIRED = "TRIGGER_FIRED"
    TRIGGER_FAILED = "TRIGGER_FAILED"
    TRIGGER_RECOVERED = "TRIGGER_RECOVERED"  # a start whose outcome was unknown, settled by asking the target
    CALLBACK_RECEIVED = "CALLBACK_RECEIVED"
    RETRY_SCHEDULED = "RETRY_SCHEDULED"
    RETRY_EXHAUSTED = "RETRY_EXHAUSTED"
    SLA_BREACHED = "SLA_BREACHED"
    TRAIT_PUSHED = "TRAIT_PUSHED"
    RERUN_REQUESTED = "RERUN_REQUESTED"
    RERUN_COMPLETED = "RERUN_COMPLETED"
    MONITORING_STARTED = "MONITORING_STARTED"
    MONITORING_DRIFT_DETECTED = "MONITORING_DRIFT_DETECTED"
    MONITORING_COMPLETED = "MONITORING_COMPLETED"
    SCHEDULE_MISSED = "SCHEDULE_MISSED"
    RUN_STUCK = "RUN_STUCK"
    PIPELINE_COMPLETED = "PIPELINE_COMPLETED"
    PIPELINE_FAILED = "PIPELINE_FAILED"
    CIRCUIT_BREAKER_TRIPPED = "CIRCUIT_BREAKER_TRIPPED"
    STORE_RESET = "STORE_RESET"  # the store was found wiped or swapped, and healed
    RUN_RESTORED = "RUN_RESTORED"  # a period that ran before a store reset was restored, not triggered again
    TRIGGER_FORCED = "TRIGGER_FORCED"  # triggerAnyway started a NOT_READY pipeline; names the failing traits
    # Shadow mode (``dryRun``, interlock/steps/shadow.py): what a live pipeline would have done.
    WOULD_TRIGGER = "WOULD_TRIGGER"
    WOULD_RETRY = "WOULD_RETRY"
    WOULD_RERUN = "WOULD_RERUN"


# The groups of run statuses every module asks about, defined here once. A period whose run log is
# ACTIVE is being worked on (nothing may start it again); SUCCEEDED is done for good; UNSUCCESSFUL
# may be retried. STARTED is ACTIVE after the claim: the job may already be running at the target.
# TERMINAL statuses have no move out (see interlock.lifecycle); COMPLETED_MONITORING is SUCCEEDED
# but not terminal, because post-run monitoring can still fail it.
ACTIVE_RUN_STATUSES = frozenset({RunStatus.PENDING, RunStatus.TRIGGERING, RunStatus.RUNNING})
STARTED_RUN_STATUSES = frozenset({RunStatus.TRIGGERING, RunStatus.RUNNING})
SUCCEEDED_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.COMPLETED_MONITORING})
UNSUCCESSFUL_RUN_STATUSES = frozenset({RunStatus.FAILED, RunStatus.CANCELLED})
TERMINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, *UNSUCCESSFUL_RUN_STATUSES})

DEFAULT_SCHEDULE = "daily"
"""The schedule id of a pipeline that declares no schedules."""

PIPELINE_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,253}[a-z0-9]$"
SCHEDULE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
SCHEDULE_NAME_MAX = 64
MAX_ATTEMPTS = 100
MAX_RERUNS = 100  # the largest rerun budget per period a pipeline may set
MONITORING_WINDOW = timedelta(hours=2)  # post-completion monitoring when ``monitoring.duration`` is absent
"""The largest ``retry.maxAttempts``: no period is ever tried more often."""

# --------------------------------------------------------------------------------------------------
# Value types with their grammar checked where they are parsed, so errors carry the field path.
# Durations, times of day, deadlines and time zones are typed values: see interlock/timetypes.py.


def _iso_date(value: Any) -> Any:
    # An unquoted 2025-12-25 is still text here (our YAML loader follows YAML 1.2: no timestamps).
    if isinstance(value, str):
        timeutil.parse_date(value)
    return value


def _weekday(value: Any) -> Any:
    if isinstance(value, str) and value.lower() not in timeutil.WEEKDAYS:
        raise ValueError(f"unknown weekday {value!r}: expected one of {', '.join(timeutil.WEEKDAYS)}")
    return value


IsoDate = Annotated[str, BeforeValidator(_iso_date)]
Weekday = Annotated[str, BeforeValidator(_weekday)]
# A schedule's cron expression, checked by cronsim at load (interlock/cron.py), kept as written.
CronExpression = Annotated[str, AfterValidator(check_cron)]
Seconds = Annotated[StrictInt, Field(ge=0)]
PipelineName = Annotated[str, Field(pattern=PIPELINE_NAME_PATTERN, min_length=2, max_length=255)]


class ConfigModel(BaseModel):
    """Base of everything read from YAML: camelCase keys, unknown keys rejected."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, validate_default=False
    )

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form (the same keys as YAML): what was given, empty fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)


class VariantModel(ConfigModel):
    """Trigger variant blocks keep the reference's snake_case keys."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=None)


def _both(snake: str, camel: str, **kwargs: Any) -> Any:
    """A field spelled ``snake`` in YAML and JSON that also accepts the reference's JSON ``camel``."""
    return Field(validation_alias=AliasChoices(snake, camel), serialization_alias=snake, **kwargs)


# --------------------------------------------------------------------------------------------------
# Configuration-side types: what interlock.yaml, archetypes, pipelines and calendars hold.


class TraitConfig(ConfigModel):
    """A pipeline's override of one archetype trait."""

    evaluator: str | None = None
    config: dict[str, Any] | None = None
    ttl: Seconds | None = None
    timeout: Seconds | None = None


class HttpTrigger(VariantModel):
    method: str = "POST"
    url: str
    headers: dict[str, str] | None = None
    body: str | None = None
    timeout: Seconds | None = None


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


# Variables the command trigger sets for the program it runs: the run id, pipeline, schedule, period.
COMMAND_TRIGGER_ENV = ("INTERLOCK_RUN_ID", "INTERLOCK_PIPELINE", "INTERLOCK_SCHEDULE", "INTERLOCK_PERIOD")


class CommandTrigger(VariantModel):
    command: Annotated[str, AfterValidator(_not_blank)]
    # Run through /bin/sh -c (pipes, globs, $VARS); off by default: the line is split into arguments.
    shell: bool = False
    timeout: Annotated[StrictInt, Field(gt=0)] | None = None


class AirflowTrigger(VariantModel):
    url: str = Field(min_length=1)
    dag_id: str = _both("dag_id", "dagId")
    headers: dict[str, str] | None = None
    body: str | None = None
    timeout: Seconds | None = None
    # 2 = Airflow 3 (/api/v2, a bearer token from POST /auth/token); 1 = Airflow 2 (/api/v1).
    api_version: Literal[1, 2] = Field(default=2, validation_alias=AliasChoices("apiVersion", "api_version"),
                                       serialization_alias="apiVersion")
    # How Interlock authenticates (see auth_mode): username + password, an Authorization header of
    # the user's own (a static API token), or neither (an Airflow that asks for no credentials).
    username: str | None = None
    password: str | None = None  # write ${INTERLOCK_AIRFLOW_PASSWORD}, not the secret itself

    @model_validator(mode="after")
    def _one_auth_mode(self) -> AirflowTrigger:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (leave both out to send an Authorization "
                             "header of your own, or no credentials)")
        if self.username is not None and _has_authorization(self.headers):
            raise ValueError("give either username/password or an Authorization header, not both")
        return self

    @property
    def auth_mode(self) -> AirflowAuth:
        """``token``: apiVersion 2 gets a bearer token from POST /auth/token (apiVersion 1: basic auth);
        ``header``: the configured Authorization header is sent as is; ``none``: no credentials."""
        if self.username is not None:
            return AirflowAuth.TOKEN
        return AirflowAuth.HEADER if _has_authorization(self.headers) else AirflowAuth.NONE


class AirflowAuth(StrEnum):
    TOKEN = "token"
    HEADER = "header"
    NONE = "none"


def _has_authorization(headers: dict[str, str] | None) -> bool:
    return any(name.lower() == "authorization" for name in headers or {})


# Longest failOnLogPattern accepted (characters): a pattern, not a program.
LOG_PATTERN_MAX = 512


def _log_pattern(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise ValueError("must not be empty (leave it out to skip the log check)")
    if len(value) > LOG_PATTERN_MAX:
        raise ValueError(f"is {len(value)} characters; at most {LOG_PATTERN_MAX}")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"is not a regular expression: {exc}") from None
    return value


def _log_group(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_/.#-]{1,512}", value):
        raise ValueError(f"{value!r} is not a CloudWatch log group name (letters, digits, '_', '-', '/', '.', '#')")
    return value


class GlueTrigger(VariantModel):
    job_name: str = _both("job_name", "jobName")
    arguments: dict[str, str] | None = None
    # A run that ends SUCCEEDED is FAILED (PERMANENT) when a line of its log streams matches this
    # regular expression (Python syntax, searched per line). Off by default: what counts as an
    # error marker is the job's own convention, and a guessed default would fail healthy jobs.
    fail_on_log_pattern: Annotated[str | None, AfterValidator(_log_pattern)] = _both(
        "fail_on_log_pattern", "failOnLogPattern", default=None)
    # Where the run's streams (named after the job run id) are searched: Glue's standard groups.
    log_groups: list[Annotated[str, AfterValidator(_log_group)]] = _both(
        "log_groups", "logGroups", default_factory=lambda: ["/aws-glue/jobs/error", "/aws-glue/jobs/output"],
        min_length=1, max_length=8)


class EmrTrigger(VariantModel):
    cluster_id: str = _both("cluster_id", "clusterId")
    step_name: str = _both("step_name", "stepName")
    command: str
    arguments: dict[str, str] | None = None


class EmrServerlessTrigger(VariantModel):
    application_id: str = _both("application_id", "applicationId")
    job_name: str = _both("job_name", "jobName")
    arguments: dict[str, str] | None = None
    # What AWS needs to actually run something (the reference sent only the name).
    execution_role_arn: str | None = None
    entry_point: str | None = None


class StepFunctionTrigger(VariantModel):
    state_machine_arn: str = _both("state_machine_arn", "stateMachineArn")
    arguments: dict[str, str] | None = None


class DatabricksTrigger(VariantModel):
    workspace_url: str = _both("workspace_url", "workspaceUrl")
    job_id: str = _both("job_id", "jobId")
    headers: dict[str, str] | None = None
    arguments: dict[str, str] | None = None


def _numeric_id(value: str) -> str:
    if not re.fullmatch(r"[0-9]{1,20}", value):
        raise ValueError(f"{value!r} is not a numeric id")
    return value


def _token_reference(value: str) -> str:
    if not re.fullmatch(r"\$\{INTERLOCK_[A-Z0-9_]+\}", value):
        raise ValueError("must be one ${INTERLOCK_*} variable such as ${INTERLOCK_DBT_CLOUD_TOKEN}, not the token "
                         "itself (a token in the file ends up in version control)")
    return value


class DbtCloudTrigger(VariantModel):
    """A dbt Cloud job run through the Administrative API v2 (``POST .../jobs/{job}/run/``)."""

    account_id: Annotated[str, AfterValidator(_numeric_id)] = _both("account_id", "accountId")
    job_id: Annotated[str, AfterValidator(_numeric_id)] = _both("job_id", "jobId")
    # The account's access URL: https://cloud.getdbt.com, or a regional / single-tenant one.
    url: str = "https://cloud.getdbt.com"
    # One ${INTERLOCK_*} variable such as ${INTERLOCK_DBT_CLOUD_TOKEN}, never the token itself.
    token: Annotated[str, AfterValidator(_token_reference)]
    cause: str = "Triggered by Interlock run ${runId}"
    steps_override: list[Annotated[str, Field(min_length=1)]] | None = _both(
        "steps_override", "stepsOverride", default=None)
    git_branch: str | None = _both("git_branch", "gitBranch", default=None)
    timeout: Seconds | None = None


class LambdaTrigger(VariantModel):
    """Invoke an AWS Lambda function: ``Event`` (asynchronous; the function reports the run's end
    with the completion callback) or ``RequestResponse`` (the run ends with the invocation)."""

    function_name: str = Field(validation_alias=AliasChoices("function_name", "functionName"),
                               serialization_alias="function_name", min_length=1, max_length=170)
    invocation_type: Literal["Event", "RequestResponse"] = _both(
        "invocation_type", "invocationType", default="Event")
    qualifier: str | None = None  # a version or alias
    # A JSON document, templated; default: {"runId", "pipelineId", "scheduleId", "period"}.
    payload: str | None = None
_TEMPLATE_VAR = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def _http_url(value: str) -> str:
    """An absolute http(s) URL with a host (its ``${...}`` variables are rendered when calling)."""
    parts = urlsplit(_TEMPLATE_VAR.sub("x", value.strip()))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host")
    return value


def _mapping_text(value: dict[str, Any] | str | None) -> dict[str, Any] | str | None:
    """A mapping, or JSON/YAML text of one; text is parsed with each ``${...}`` as a plain word."""
    if not isinstance(value, str):
        return value
    from interlock.config.yamlio import YamlError, parse  # interlock.config imports this module

    try:
        parsed = parse(_TEMPLATE_VAR.sub("x", value)).data
    except YamlError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        raise ValueError(f"is not JSON or YAML: {exc.message}{where}") from None
    if parsed is not None and not isinstance(parsed, dict):
        raise ValueError(f"must be a mapping (JSON object or YAML mapping), not {type(parsed).__name__}")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
# A mapping written in YAML, or JSON/YAML text of one; ${...} variables are rendered when starting.
TemplatedMapping = Annotated[dict[str, Any] | str | None, AfterValidator(_mapping_text)]


class DagsterTrigger(VariantModel):
    """Launch a job through Dagster's GraphQL API (``<url>/graphql``; OSS webserver or Dagster+)."""

    url: HttpUrl  # the webserver, or https://<org>.dagster.cloud/<deployment> for Dagster+
    location_name: str = _both("location_name", "locationName", min_length=1)
    # A code location built from one Definitions object has the repository "__repository__".
    repository_name: str = _both("repository_name", "repositoryName", default="__repository__", min_length=1)
    job_name: str = _both("job_name", "jobName", min_length=1)
    run_config: TemplatedMapping = _both("run_config", "runConfig", default=None)
    headers: dict[str, str] | None = None  # e.g. Dagster-Cloud-Api-Token: ${INTERLOCK_DAGSTER_TOKEN}
    timeout: Annotated[StrictInt, Field(gt=0)] | None = None


def _deployment_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[^/]+/[^/]+", value):
        raise ValueError(f"{value!r} is not '<flow name>/<deployment name>'")
    return value


class PrefectTrigger(VariantModel):
    """Create a flow run of a deployment through Prefect's REST API (self-hosted server or Cloud)."""

    # PREFECT_API_URL: http://host:4200/api, or https://api.prefect.cloud/api/accounts/<a>/workspaces/<w>
    api_url: HttpUrl = _both("api_url", "apiUrl")
    deployment_id: str | None = _both("deployment_id", "deploymentId", default=None, min_length=1)
    deployment: Annotated[str | None, AfterValidator(_deployment_name)] = None  # "<flow>/<deployment>"
    parameters: TemplatedMapping = None
    headers: dict[str, str] | None = None  # Cloud: Authorization: Bearer ${INTERLOCK_PREFECT_API_KEY}
    # A server's PREFECT_SERVER_API_AUTH_STRING ("user:password"), sent as Authorization: Basic.
    auth_string: str | None = _both("auth_string", "authString", default=None, min_length=1)
    timeout: Annotated[StrictInt, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one_deployment(self) -> PrefectTrigger:
        if (self.deployment_id is None) == (self.deployment is None):
            raise ValueError("give exactly one of deployment_id and deployment ('<flow>/<deployment>')")
        return self


class PluginTrigger(VariantModel):
    """A trigger from an installed package: the entry point's ``name`` and the config it reads."""

    name: str = Field(min_length=1)
    config: dict[str, Any] | None = None


# trigger.type -> (attribute on TriggerConfig, key in YAML/JSON, block model)
TRIGGER_BLOCKS: dict[TriggerType, tuple[str, str, type[VariantModel]]] = {
    TriggerType.HTTP: ("http", "http", HttpTrigger),
    TriggerType.COMMAND: ("command", "command", CommandTrigger),
    TriggerType.AIRFLOW: ("airflow", "airflow", AirflowTrigger),
    TriggerType.GLUE: ("glue", "glue", GlueTrigger),
    TriggerType.EMR: ("emr", "emr", EmrTrigger),
    TriggerType.EMR_SERVERLESS: ("emr_serverless", "emr_serverless", EmrServerlessTrigger),
    TriggerType.STEP_FUNCTION: ("step_function", "step_function", StepFunctionTrigger),
    TriggerType.DATABRICKS: ("databricks", "databricks", DatabricksTrigger),
    TriggerType.DBT_CLOUD: ("dbt_cloud", "dbt_cloud", DbtCloudTrigger),
    TriggerType.LAMBDA: ("lambda_", "lambda", LambdaTrigger),
    TriggerType.DAGSTER: ("dagster", "dagster", DagsterTrigger),
    TriggerType.PREFECT: ("prefect", "prefect", PrefectTrigger),
    TriggerType.PLUGIN: ("plugin", "plugin", PluginTrigger),
}
_BLOCK_KEYS = {"http", "command", "airflow", "glue", "emr", "databricks", "dagster", "prefect", "emr_serverless",
               "emrServerless", "step_function", "stepFunction", "dbt_cloud", "dbtCloud", "lambda", "plugin"}


class TriggerConfig(ConfigModel):
    """How to start a pipeline's job: ``type`` plus the block named after it."""

    type: TriggerType
    poll_interval: PositiveDuration | None = None
    http: HttpTrigger | None = None
    command: CommandTrigger | None = None
    airflow: AirflowTrigger | None = None
    glue: GlueTrigger | None = None
    emr: EmrTrigger | None = None
    emr_serverless: EmrServerlessTrigger | None = _both("emr_serverless", "emrServerless", default=None)
    step_function: StepFunctionTrigger | None = _both("step_function", "stepFunction", default=None)
    databricks: DatabricksTrigger | None = None
    dbt_cloud: DbtCloudTrigger | None = _both("dbt_cloud", "dbtCloud", default=None)
    lambda_: LambdaTrigger | None = Field(default=None, validation_alias="lambda", serialization_alias="lambda")
    dagster: DagsterTrigger | None = None
    prefect: PrefectTrigger | None = None
    plugin: PluginTrigger | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        return normalise_trigger(data)

    def block(self) -> VariantModel | None:
        """The variant block that matches ``type`` (None when it is missing)."""
        attr = TRIGGER_BLOCKS[self.type][0]
        value: VariantModel | None = getattr(self, attr)
        return value


def normalise_trigger(data: Any) -> Any:
    """Accept the reference's shorthands: ``command: "echo hi"`` and a flat legacy block.

    ``interlock init`` in the reference wrote ``command: "<string>"``, and its demo scripts sent
    ``{"type": "http", "url": ...}``; both are hoisted into the variant block. Only keys the
    variant knows are hoisted, so a typo still fails as an unknown key of ``trigger``.
    """
    if not isinstance(data, dict):
        return data
    data = dict(data)
    if isinstance(data.get("command"), str):
        data["command"] = {"command": data["command"]}
    try:
        kind = TriggerType(data.get("type"))
    except ValueError:
        return data
    _, key, block = TRIGGER_BLOCKS[kind]
    if data.get(key) is None and data.get(to_camel(key)) is None:
        known = _variant_keys(block)
        flat = {k: v for k, v in data.items() if k in known and k not in {"type", *_BLOCK_KEYS}}
        if flat:
            for k in flat:
                del data[k]
            data[key] = flat
    return data


def _variant_keys(block: type[VariantModel]) -> set[str]:
    keys: set[str] = set()
    for name, field in block.model_fields.items():
        keys.add(name)
        if isinstance(field.validation_alias, AliasChoices):
            keys.update(c for c in field.validation_alias.choices if isinstance(c, str))
    return keys


class RetryPolicy(ConfigModel):
    """Automatic retry of a failed trigger. Each absent field takes its default."""

    max_attempts: StrictInt = Field(default=3, ge=1, le=MAX_ATTEMPTS)
    backoff_seconds: StrictInt = Field(default=30, ge=0, le=3600)
    backoff_multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    retryable_failures: list[FailureCategory] | None = None
    # Separate budgets (interlock/retry.py): code (PERMANENT) failures are retried only this often;
    # reruns per (schedule, period) are capped by reason, unlimited when absent.
    max_code_retries: StrictInt = Field(default=0, ge=0, le=MAX_ATTEMPTS)
    max_drift_reruns: StrictInt | None = Field(default=None, ge=0, le=MAX_RERUNS)
    max_manual_reruns: StrictInt | None = Field(default=None, ge=0, le=MAX_RERUNS)


class SLAConfig(ConfigModel):
    evaluation_deadline: Deadline | None = None
    completion_deadline: Deadline | None = None
    timezone: TimeZone | None = None
    validation_timeout: PositiveDuration | None = None
    at_risk_lead_time: PositiveDuration | None = None
    # A relative SLA: the run must finish within this long of the period's first passing trait.
    max_duration: PositiveDuration | None = None


class InclusionConfig(ConfigModel):
    """The only days a schedule runs on: inline dates and/or a calendar (same files as exclusions)."""

    calendar: str | None = None
    dates: list[IsoDate] | None = None


class ScheduleConfig(ConfigModel):
    """One schedule of a pipeline: daily (``after``/``deadline``) or ``cron`` (see interlock/periods.py)."""

    name: str = Field(pattern=SCHEDULE_NAME_PATTERN, max_length=SCHEDULE_NAME_MAX)
    after: TimeOfDay | None = None
    # A daily schedule's deadline is a time of day; any schedule's may be a duration after the
    # period opens ("+90m"); an hourly cron schedule's may be ":MM" (minute MM of the next hour).
    deadline: Deadline | None = None
    timezone: TimeZone | None = None
    cron: CronExpression | None = None
    include: InclusionConfig | None = None
    # Opt-in: at this instant of the period the job starts even when NOT_READY (once, recorded as forced).
    trigger_anyway: ForceAt | None = None


class MonitoringConfig(ConfigModel):
    enabled: bool = False
    duration: PositiveDuration | None = None
    # Every trait must report a result within this long of the run's completion, else one
    # ``post_run_sensor_missing`` alert (interlock/steps/monitor.py).
    sensor_timeout: PositiveDuration | None = None

    @model_validator(mode="after")
    def _timeout_inside_window(self) -> MonitoringConfig:
        window = self.duration if self.duration is not None else MONITORING_WINDOW
        if self.sensor_timeout is not None and self.sensor_timeout >= window:
            minutes = int(window.total_seconds() // 60)
            shown = getattr(window, "text", None) or (f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m")
            raise ValueError(f"sensorTimeout ({self.sensor_timeout.text}) must be shorter than the monitoring window "
                             f"({shown}): monitoring ends before it could expire")
        return self


class PipelineWatchConfig(ConfigModel):
    interval: PositiveDuration | None = None
    enabled: bool | None = None
    monitoring: MonitoringConfig | None = None


class ExclusionConfig(ConfigModel):
    calendar: str | None = None
    days: list[Weekday] | None = None
    dates: list[IsoDate] | None = None


class Calendar(ConfigModel):
    name: str = Field(min_length=1)
    days: list[Weekday] | None = None
    dates: list[IsoDate] | None = None


class CascadeConfig(ConfigModel):
    delay_between: Duration | None = None


class QuarantineConfig(ConfigModel):
    blocking: bool = False


class CatchUp(StrEnum):
    """What to do with periods that passed while Interlock was not running (downtime)."""

    SKIP = "skip"  # record them as missed (an event each), run nothing
    LATEST = "latest"  # run the most recent missed period
    ALL = "all"  # run every missed period


class PipelineConfig(ConfigModel):
    """One registered pipeline (a file under ``pipelineDirs``, or an API registration)."""

    name: PipelineName
    archetype: str = Field(min_length=1)
    tier: StrictInt | None = Field(default=None, ge=0, le=9)
    traits: dict[str, TraitConfig | None] | None = None
    trigger: TriggerConfig | None = None
    retry: RetryPolicy | None = None
    sla: SLAConfig | None = None
    watch: PipelineWatchConfig | None = None
    schedules: list[ScheduleConfig] | None = None
    exclusions: ExclusionConfig | None = None
    cascade: CascadeConfig | None = None
    quarantine: QuarantineConfig | None = None
    catch_up: CatchUp | None = None
    # Shadow mode: run the whole lifecycle but start no job and send no alert, only record what
    # would have happened (interlock/steps/shadow.py). None: the deployment's ``dryRun``.
    dry_run: StrictBool | None = None
    # Shadow report: the pushed trait whose PASS marks that the real job (still run by the old
    # scheduler) started; its push instants are the "actual start" of ``interlock shadow-report``.
    dry_run_start_trait: str | None = Field(default=None, min_length=1)

    def schedule_list(self) -> list[ScheduleConfig]:
        """The pipeline's schedules; a pipeline that declares none has one, ``daily``."""
        return list(self.schedules) if self.schedules else [ScheduleConfig(name=DEFAULT_SCHEDULE)]

    def upstreams(self) -> list[str]:
        """Pipelines named as ``upstreamPipeline`` in this pipeline's trait configs (for cascade)."""
        found: list[str] = []
        for trait in (self.traits or {}).values():
            upstream = (trait.config or {}).get("upstreamPipeline") if trait else None
            if isinstance(upstream, str) and upstream not in found:
                found.append(upstream)
        return found


class TraitDefinition(ConfigModel):
    type: str = Field(min_length=1)
    description: str | None = None
    default_config: dict[str, Any] | None = None
    default_ttl: Seconds | None = None
    default_timeout: Seconds | None = None


class ReadinessRule(ConfigModel):
    type: ReadinessRuleType
    parameters: dict[str, Any] | None = None


class Archetype(ConfigModel):
    """A reusable template of traits and the rule that decides readiness over them."""

    name: str = Field(min_length=1)
    required_traits: list[TraitDefinition] = Field(min_length=1)
    optional_traits: list[TraitDefinition] | None = None
    readiness_rule: ReadinessRule

    def trait_types(self) -> list[str]:
        return [t.type for t in self.required_traits] + [t.type for t in self.optional_traits or []]


class AlertConfig(ConfigModel):
    """One alert sink of ``interlock.yaml`` ``alerts:``."""

    type: AlertType
    url: str | None = None
    path: str | None = None
    topic_arn: str | None = None
    bucket_name: str | None = None
    prefix: str | None = None
    # webhook only: "json" (the alert object) or "slack" (a Slack-compatible {"text": ...} message)
    format: Literal["json", "slack"] | None = None
    # slack only: the bot token as a ${INTERLOCK_*} variable, the channel (an ID such as C0123456789
    # or a #name), and the Web API base URL (https://slack.com/api unless a proxy or a test).
    token: str | None = None
    channel: str | None = Field(default=None, pattern=r"^#?[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
    api_url: str | None = None


# --------------------------------------------------------------------------------------------------
# Records: JSON in the store and the API. Unknown keys are ignored on read.


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, alias_generator=to_camel)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ResolvedTrait(Record):
    """One trait after the archetype x pipeline merge (interlock/config/merge.py)."""

    type: str
    description: str = ""
    required: bool
    evaluator: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    ttl: int = 0
    timeout: int = 0


class TraitEvaluation(Record):
    pipeline_id: str
    trait_type: str
    status: TraitStatus
    value: dict[str, Any] | None = None
    reason: str | None = None
    failure_category: FailureCategory | None = None
    evaluated_at: datetime
    expires_at: datetime | None = None
    duration_ms: float | None = None
    source: str | None = None  # "evaluator" or "push": kept apart in the store
    cached: bool | None = None  # True when a still-valid PASS was reused instead of re-evaluating


class ReadinessResult(Record):
    pipeline_id: str
    schedule_id: str | None = None
    period: str | None = None
    status: ReadinessStatus
    traits: list[TraitEvaluation] = Field(default_factory=list)
    blocking: list[str] = Field(default_factory=list)
    failing: list[str] = Field(default_factory=list)
    evaluated_at: datetime


class RunState(Record):
    run_id: str
    pipeline_id: str
    status: RunStatus
    version: int
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    # What the run is for (interlock.periods.RunKey). None on runs stored before these fields
    # existed: RunKey.of_run reads ``metadata`` (scheduleId, period, attempt) for those.
    schedule_id: str | None = None
    period: str | None = None
    attempt: int | None = None


class Event(Record):
    kind: EventKind
    pipeline_id: str
    run_id: str | None = None
    trait_type: str | None = None
    status: str | None = None
    message: str | None = None
    # Large values are kept as a preview with their size and digest (interlock.eventsize).
    details: Annotated[dict[str, Any] | None, AfterValidator(cap_details)] = None
    timestamp: datetime


class RetryAttempt(Record):
    attempt: int
    status: RunStatus
    run_id: str
    failure_message: str | None = None
    failure_category: FailureCategory | None = None
    started_at: datetime
    completed_at: datetime | None = None


class RunLogEntry(Record):
    pipeline_id: str
    date: str
    schedule_id: str = DEFAULT_SCHEDULE
    status: RunStatus
    attempt_number: int
    run_id: str
    failure_message: str | None = None
    failure_category: FailureCategory | None = None
    alert_sent: bool = False
    retry_history: list[RetryAttempt] | None = None
    started_at: datetime
    completed_at: datetime | None = None
    updated_at: datetime


class RerunRecord(Record):
    rerun_id: str
    pipeline_id: str
    original_date: str
    original_run_id: str | None = None
    reason: str
    description: str | None = None
    status: RunStatus
    rerun_run_id: str | None = None
    requested_at: datetime
    completed_at: datetime | None = None
    metadata: dict[str, Any] | None = None


class Alert(Record):
    alert_id: str | None = None
    level: AlertLevel
    alert_type: str | None = None
    pipeline_id: str | None = None
    trait_type: str | None = None
    message: str
    details: dict[str, Any] | None = None
    timestamp: datetime


class AlertDelivery(Record):
    """One attempt to send one outboxed alert to one sink, and how it went (``interlock alerts``)."""

    delivery_id: str
    alert_id: str | None = None
    alert_type: str | None = None
    pipeline_id: str | None = None
    sink: str
    attempt: int
    ok: bool
    #: The sink's error, redacted and cut short; None when it was sent.
    error: str | None = None
    #: No further attempt follows (sent, or the last attempt failed).
    final: bool = False
    #: When the next attempt is due, for a failure that will be retried.
    retry_at: datetime | None = None
    seconds: float
    at: datetime
