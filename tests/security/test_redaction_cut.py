"""A secret that straddles the cut of a quoted output leaves no piece of itself behind.

A failing command's output, a target's error answer and an evaluator's stderr are quoted in
failure messages, cut to a few thousand characters. Cut first and redacted afterwards, a secret
that the cut splits no longer matches, and its surviving half is stored in the run, the events,
the alerts and served by the API (issue 15, item 3). Here the secret is placed so that the cut
falls at every offset inside it, and it is spelled in letters that appear nowhere else in the
message, so "not one of its characters survives" can be checked exactly.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from interlock.model import TriggerConfig
from interlock.redaction import REDACTED, excerpt, remember
from interlock.triggers import TriggerContext, TriggerError, trigger_for
from interlock.triggers.command import OUTPUT_TAIL

# Letters that occur in none of: the filler, "[REDACTED]", the failure-message prefix and the
# "(N earlier characters) ..." marker.
SECRET_ALPHABET = "QWXZJKVYU"
FILLER = "-"


def make_secret(length: int = 24) -> str:
    return "".join(random.choice(SECRET_ALPHABET) for _ in range(length))


def assert_no_piece_of(secret: str, text: str) -> None:
    leaked = set(secret) & set(text)
    assert not leaked, f"characters {sorted(leaked)} of the secret survived in {text[:80]!r}...{text[-80:]!r}"


@pytest.mark.parametrize("keep", ["head", "tail"])
def test_excerpt_leaves_no_piece_of_a_secret_cut_at_any_offset(keep: str) -> None:
    secret = make_secret()
    remember(secret)
    limit = 100
    for offset in range(-2, len(secret) + 3):
        # offset = how many of the secret's characters fall inside the kept part
        if keep == "head":
            text = FILLER * (limit - offset) + secret + FILLER * 50
        else:
            text = FILLER * 50 + secret + FILLER * (limit - offset)
        quoted = excerpt(text, limit, keep="head" if keep == "head" else "tail")
        assert_no_piece_of(secret, quoted)
        assert len(quoted) <= limit + len("(99999 earlier characters) ...")


def test_excerpt_keeps_the_end_of_a_command_output_and_says_how_much_was_cut() -> None:
    assert excerpt("a" * 10 + "why it failed", 13, keep="tail") == "(10 earlier characters) ...why it failed"
    assert excerpt("answer" + "b" * 10, 6) == "answer... (10 more characters)"
    assert excerpt(b"ok\x00\xff", 10) == "ok\ufffd\ufffd"  # storable: no NUL, no invalid UTF-8


def test_a_failing_command_leaves_no_piece_of_a_secret_on_the_cut(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    secret = make_secret()
    monkeypatch.setenv("INTERLOCK_CUT_SECRET", secret)
    ctx = TriggerContext("orders-daily-2026-03-01-1", "orders", "daily", "2026-03-01", tmp_path)
    for offset in range(-2, len(secret) + 3):
        # The output ends with the secret and then OUTPUT_TAIL - offset characters: the last
        # OUTPUT_TAIL characters hold the secret's last ``offset`` characters.
        after = OUTPUT_TAIL - offset
        command = (f"printf '%s' 'start of the output'; printf '%s' \"${{INTERLOCK_CUT_SECRET}}\"; "
                   f"head -c {after} /dev/zero | tr '\\0' '{FILLER}'; exit 3")
        config = TriggerConfig.model_validate({"type": "command", "command": {"command": command, "shell": True}})
        with pytest.raises(TriggerError) as raised:
            trigger_for(config.type).start(config, ctx)
        message = str(raised.value)
        assert message.startswith("command exited with status 3: ")
        assert message.endswith(FILLER * min(after, OUTPUT_TAIL)), "the end of the output is what is quoted"
        assert_no_piece_of(secret, message)
        if offset >= len(REDACTED):  # redacted first, the shorter marker lies wholly inside the kept end
            assert REDACTED in message, offset
