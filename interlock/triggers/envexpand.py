"""``${INTERLOCK_*}`` expansion in trigger bodies and headers.

Only variables named ``INTERLOCK_*`` are expanded (the reference expanded any variable, so a
pipeline file could exfiltrate ``$AWS_SECRET_ACCESS_KEY`` into a webhook body). Anything else,
including ``$HOME``, is left as written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

_VAR = re.compile(r"\$\{(INTERLOCK_[A-Z0-9_]+)\}|\$(INTERLOCK_[A-Z0-9_]+)")


def expand(text: str, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)
