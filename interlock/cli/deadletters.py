"""``dead-letters``: the messages workers refused, and putting one back on its queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from interlock.cli.common import Context, emit_json, fail_input, failing_cleanly, out
from interlock.cli.main import cli

if TYPE_CHECKING:
    from interlock.deadletters import DeadLetter


@cli.command("dead-letters")
@click.option("--requeue", "requeue_id", metavar="ID", help="Put dead letter ID back on its queue and remove it.")
@click.option("--delete", "delete_id", metavar="ID", help="Remove dead letter ID without sending it.")
@click.option("--purge", is_flag=True, help="Remove every dead letter.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="List at most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def dead_letters(obj: Context, requeue_id: str | None, delete_id: str | None, purge: bool, limit: int,
                 as_json: bool) -> None:
    """List the messages workers kept instead of running (newest first), or requeue / delete one.

    A worker keeps a message here when it cannot be decoded, names no Interlock step, or carries
    arguments the step refuses; the reason says which field and why. Requeue one once its cause
    is fixed (it goes to the back of its queue). Exit 2 for an unknown ID.
    """
    from interlock import redisconn
    from interlock.deadletters import DeadLetterError, DeadLetters

    if sum((requeue_id is not None, delete_id is not None, purge)) > 1:
        fail_input("give at most one of --requeue, --delete and --purge")
    settings = obj.project().settings
    letters = DeadLetters(redisconn.client(settings, decode_responses=True), settings.key_prefix)
    with failing_cleanly("reading the dead letters"):
        try:
            if requeue_id is not None or delete_id is not None:
                action = "requeued" if requeue_id is not None else "deleted"
                letter = letters.requeue(requeue_id) if requeue_id is not None else letters.delete(str(delete_id))
                result = {action: letter.id, "queue": letter.queue}
                if as_json:
                    emit_json(result)
                else:
                    out.print(f"{action} dead letter {letter.id}" + (f" onto queue {letter.queue}"
                                                                      if requeue_id is not None else ""))
                return
        except DeadLetterError as exc:
            fail_input(str(exc))
        if purge:
            count = letters.purge()
            if as_json:
                emit_json({"purged": count})
            else:
                out.print(f"removed {count} dead letters")
            return
        found = letters.list(limit)
        total = letters.count()
    if as_json:
        emit_json([{k: v for k, v in letter.to_json().items() if k != "raw"} for letter in found])
        return
    if not found:
        out.print("No dead letters.")
        return
    _table(found, total)


def _table(found: list[DeadLetter], total: int) -> None:
    from rich.table import Table

    table = Table()
    for column in ("id", "queue", "time", "task", "reason", "body"):
        table.add_column(column, overflow="fold")
    for letter in found:
        table.add_row(letter.id, letter.queue, letter.at.isoformat(timespec="seconds"), letter.task or "",
                      letter.reason, letter.preview, end_section=False)
    out.print(table, markup=False)
    if total > len(found):
        out.print(f"{len(found)} of {total} shown (newest first); --limit shows more")
