"""The host side of two Systems operations, run by a worker like a file operation (``file_ops.perform``):
resolving an environment variable on the host (``hostEval``) and logging in with a stored credential
(``checkUserCredential``). Each takes the opened transport and the ``root``/``path`` every operation gets."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dlws_flow.adapters.transports import Transport
from dlws_flow.errors import ValidationError

#: Tapis' rule for ``envVarName``: a letter or underscore, then letters, digits or underscores.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def check_variable_name(name: str) -> str:
    if not VARIABLE_NAME.fullmatch(name or ""):
        raise ValidationError(f"envVarName {name!r}: a letter or underscore, then letters, digits or underscores")
    return name


def op_host_eval(transport: Transport, *, root: str, path: str, name: str) -> dict[str, Any]:
    """The variable's value in the login's shell, as HOST_EVAL reads it (empty when unset)."""
    # The name is checked here too: this runs in the worker, whoever sent the request.
    command = f"printf '%s' \"${{{check_variable_name(name)}}}\""
    return {"value": transport.run(command).check().stdout}


def op_check_login(transport: Transport, *, root: str, path: str) -> dict[str, Any]:
    """Log in and run ``true``: the credential works (a refused one raises AuthenticationFailedError)."""
    transport.run("true").check()
    return {"valid": True}


HOST_OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {"host_eval": op_host_eval, "check_login": op_check_login}
