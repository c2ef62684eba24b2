"""Pure parts of the file service: path rules, FileInfo shape, patterns, and the Celery payload codec."""

from __future__ import annotations

import pytest

from dlws_flow.errors import ValidationError
from dlws_flow.services import files
from dlws_flow.services.file_ops import inside


@pytest.mark.parametrize(("given", "expected"), [
    ("", ""), ("/", ""), ("//workdir//a/", "workdir/a"), ("./workdir/./a.txt", "workdir/a.txt"), ("/a b/c", "a b/c"),
])
def test_paths_are_relative_to_root(given, expected):
    assert files._path(given) == expected


@pytest.mark.parametrize("given", ["..", "/..", "a/../../etc", "../etc/passwd", "a/..", "x\ny", "a\x00b"])
def test_escaping_paths_are_refused(given):
    with pytest.raises(ValidationError):
        files._path(given)


@pytest.mark.parametrize(("root", "target", "expected"), [
    ("/home/u", "/home/u", True), ("/home/u", "/home/u/a", True), ("/home/u", "/home/user2", False),
    ("/home/u", "/etc/passwd", False), ("/", "/etc", True), ("/home/u/", "/home/u/x", True),
])
def test_inside(root, target, expected):
    assert inside(root, target) is expected


def test_file_info_has_tapis_fields():
    info = files.file_info("sys1", {"type": "file", "size": 12, "mtime": 0.5, "owner": "u", "group": "g",
                                    "mode": "-rw-r--r--", "path": "workdir/a.txt", "name": "a.txt"})
    assert info == {"mimeType": "text/plain", "type": "file", "owner": "u", "group": "g", "nativePermissions": "rw-r--r--",
                    "url": "tapis://sys1/workdir/a.txt", "lastModified": "1970-01-01T00:00:00.500000Z", "name": "a.txt",
                    "path": "workdir/a.txt", "size": 12}
    link = files.file_info("s", {"type": "symlink", "size": 3, "mtime": 0, "path": "l", "name": "l", "mode": "lrwxrwxrwx"})
    assert link["type"] == "symbolic_link" and link["mimeType"] is None


def test_patterns():
    assert files._matcher(None)("x")
    assert files._matcher("*.txt")("a.txt") and not files._matcher("glob:*.txt")("a.log")
    assert files._matcher("regex:^a[0-9]$")("a1") and not files._matcher("regex:^a[0-9]$")("a12")
    with pytest.raises(ValidationError):
        files._matcher("regex:(")


def test_payload_codec_round_trips_bytes():
    from workers.file_tasks import decode, encode

    value = {"content": b"\x00\xffdata", "entries": [{"name": "a", "raw": b"x"}], "n": 1}
    encoded = encode(value)
    import json

    assert decode(json.loads(json.dumps(encoded))) == value
