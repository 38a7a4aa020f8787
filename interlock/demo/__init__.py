"""`interlock demo` and what the end-to-end tests reuse: the local stack and a fake Airflow.

``stack`` starts Redis (or finds one), a worker per queue, Beat and the fake Airflow for a demo
project; ``fake_airflow`` is the Airflow REST API stand-in. The names below are re-exported so
``from interlock.demo import Stack`` keeps working.
"""

from interlock.demo.fake_airflow import FakeAirflow
from interlock.demo.stack import (
    EXPECTED,
    QUEUES,
    NoRedis,
    Stack,
    default_workdir,
    free_port,
    running_stack,
    write_project,
)

__all__ = ["EXPECTED", "QUEUES", "FakeAirflow", "NoRedis", "Stack", "default_workdir", "free_port",
           "running_stack", "write_project"]
