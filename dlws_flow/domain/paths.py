"""Tapis paths are relative to a system's ``rootDir``; these helpers map them to host paths safely."""

from __future__ import annotations

import posixpath

from dlws_flow.errors import ValidationError


def clean_relative(path: str, what: str = "path") -> str:
    """Normalise a user path to a form without ``..``, NUL or control characters; '' means the root."""
    if any(ord(c) < 32 for c in path):
        raise ValidationError(f"{what} {path!r} contains a control character")
    if len(path) > 4096:
        raise ValidationError(f"{what} is longer than 4096 characters")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValidationError(f"{what} {path!r} may not contain '..'")
    return "/".join(parts)


def host_path(root_dir: str, tapis_path: str, what: str = "path") -> str:
    """The absolute host path of ``tapis_path`` under ``root_dir``; never outside it."""
    relative = clean_relative(tapis_path, what)
    root = posixpath.normpath(root_dir) if root_dir else "/"
    return posixpath.join(root, relative) if relative else root


def root_relative(root_dir: str, absolute: str) -> str:
    """Turn an absolute host path (e.g. from HOST_EVAL) back into a rootDir-relative Tapis path."""
    root = posixpath.normpath(root_dir)
    absolute = posixpath.normpath(absolute)
    if root == "/":
        return absolute
    if absolute == root:
        return "/"
    if not absolute.startswith(root + "/"):
        raise ValidationError(f"host path {absolute!r} is outside the system's rootDir {root!r}")
    return absolute[len(root):]


def join(*parts: str) -> str:
    return posixpath.join(*parts)
