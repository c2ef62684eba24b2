"""What every command module shares: the two consoles and reading a JSON record file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from dlws_flow.errors import ValidationError

console = Console()
err = Console(stderr=True)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; a missing file or bad JSON is a ``ValidationError`` naming the file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ValidationError(f"{path}: no such file") from exc
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{path}: expected a JSON object")
    return data
