"""Inclusion calendars: a listed date that passes without a run raises ``irregular_schedule_missed``.

A schedule with ``include`` runs only on the dates it lists (month-end closes, irregular reports);
other periods are dormant like excluded days. Missing a listed date is the failure such a schedule
exists to prevent, and nothing else reports it when the schedule has no SLA deadline, so:

* a listed period "passes" when it **ends** (the next period opens; for a daily schedule, the next
  day's window). A run that starts late is still a run: the SLA deadlines report lateness.
* with no run log at all for the period by then, one ``irregular_schedule_missed`` alert (error)
  per (pipeline, schedule, period). A run that started and failed is reported by its own alerts.
* a listed date that ended before the pipeline was registered, or that an exclusion also names
  (the exclusion wins), reports nothing.

The SLA check (``sla:<pipeline>:<schedule>``) does this, due just after the listed period ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from interlock.model import Alert, AlertLevel, Event, EventKind, PipelineConfig, ScheduleConfig
from interlock.periods import Period, RunKey, next_period, period_at, previous_period
from interlock.schedule import is_excluded_day, is_included_day
from interlock.steps.deps import Deps

# A period has passed strictly after it closes: the check is scheduled just past it.
JUST_AFTER = timedelta(milliseconds=1)


def is_listed(deps: Deps, config: PipelineConfig, sched: ScheduleConfig, period: Period) -> bool:
    """Whether ``period`` is one an inclusion calendar asks for (and no exclusion drops)."""
    calendars = deps.project.calendars
    return (sched.include is not None and is_included_day(sched, period.day, calendars)
            and not is_excluded_day(config, period.day, calendars))


def check_listed_periods(deps: Deps, config: PipelineConfig, sched: ScheduleConfig, registered: datetime | None,
                         now: datetime) -> tuple[list[Alert], list[datetime]]:
    """The miss alerts of the current and the previous period; when to look again.

    The check is due at every period's end (the current one's, else the next one's), so a listed
    period is judged just after it closes, also on a cron schedule with many periods a day.
    """
    if sched.include is None:
        return [], []
    current = period_at(config, sched, now)
    fired: list[Alert] = []
    upcoming: list[datetime] = [next_period(config, sched, current).closes + JUST_AFTER]
    for period in (previous_period(config, sched, current), current):
        alert, look = check_listed_period(deps, config, sched, period, registered, now)
        fired += [alert] if alert else []
        upcoming += [look] if look else []
    return fired, upcoming


def check_listed_period(deps: Deps, config: PipelineConfig, sched: ScheduleConfig, period: Period,
                        registered: datetime | None, now: datetime) -> tuple[Alert | None, datetime | None]:
    """The miss alert for a listed ``period`` that ended without a run (once); else when to look again."""
    if not is_listed(deps, config, sched, period):
        return None, None
    if now <= period.closes:
        return None, period.closes + JUST_AFTER
    if registered is not None and period.closes <= registered:
        return None, None
    key = RunKey(config.name, sched.name, period.key)
    if deps.store.get_run_log(*key.run_log_key) is not None:
        return None, None
    message = (f"Pipeline {config.name} schedule {sched.name} did not run on its listed date {period.key}: the period "
               "ended without a run. Next: see `interlock events " + config.name + "` for why it was not ready, "
               f"then `interlock rerun {config.name} --date {period.key} --schedule {sched.name} --reason ...` "
               "if the run is still wanted")
    alert = Alert(level=AlertLevel.ERROR, alert_type="irregular_schedule_missed", pipeline_id=config.name,
                  timestamp=now, message=message,
                  details={"scheduleId": sched.name, "period": period.key, "closedAt": period.closes.isoformat()})
    if not deps.alerts.fire(alert, dedup_key=f"irregular_schedule_missed:{key.dedup_suffix}"):
        return None, None
    deps.store.append_event(Event(kind=EventKind.SLA_BREACHED, pipeline_id=config.name,
                                  status="irregular_schedule_missed", message=message, timestamp=now,
                                  details={"scheduleId": sched.name, "period": period.key}))
    return alert, None
