"""Reading the JSON documents the harness writes (records, the lock): one line naming the file on failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def read_json(path: Path, what: str = "") -> Any:
    """The parsed document; a file that is not UTF-8 or not JSON is one line (``what``: a prefix)."""
    lead = f"{what}: " if what else ""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise HarnessError(f"{lead}not UTF-8 text", file=path) from None
    except json.JSONDecodeError as exc:
        raise HarnessError(
            f"{lead}not valid JSON: {exc.msg}" if not what else f"{lead}{exc.msg}", file=path, line=exc.lineno
        ) from None
