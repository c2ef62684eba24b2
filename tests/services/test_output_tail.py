"""The ``tail`` file operation on a real local host (bash, realpath, files): bytes from an offset, the size,
whole UTF-8 characters, and no way out of the output root."""

from __future__ import annotations

import pytest

from dlws_flow.adapters.transports.local import LocalTransport
from dlws_flow.errors import NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services.file_ops import op_tail
from dlws_flow.services.outputs import _whole_characters


@pytest.fixture
def root(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "tapisjob.out").write_bytes("line é\nmore\n".encode())
    (tmp_path / "secret").write_text("not yours")
    (tmp_path / "out" / "link").symlink_to(tmp_path / "secret")
    return str(tmp_path / "out")


def test_bytes_from_an_offset_and_the_size(root):
    host = LocalTransport()
    assert op_tail(host, root=root, path="tapisjob.out") == {"offset": 0, "size": 13, "content": "line é\nmore\n".encode()}
    assert op_tail(host, root=root, path="tapisjob.out", offset=8, limit=2)["content"] == b"mo"
    assert op_tail(host, root=root, path="tapisjob.out", offset=99)["content"] == b""


def test_what_it_refuses(root):
    host = LocalTransport()
    with pytest.raises(PermissionDeniedError):
        op_tail(host, root=root, path="link")  # a symlink out of the output root
    with pytest.raises(PermissionDeniedError):
        op_tail(host, root=root, path="../secret")
    with pytest.raises(ValidationError):
        op_tail(host, root=root, path="")  # the directory itself
    with pytest.raises(ValidationError):
        op_tail(host, root=root, path="tapisjob.out", offset=-1)
    with pytest.raises(NotFoundError):
        op_tail(host, root=root, path="tapisjob.out", only=["other.txt"])  # an archived job's files only


def test_text_ends_at_a_whole_character():
    data = "é".encode()
    assert _whole_characters(data[:1]) == ("", 0)
    assert _whole_characters(b"ab" + data) == ("abé", 4)
    assert _whole_characters(b"a\xffb") == ("a\ufffdb", 3)  # not UTF-8 at all: replaced, not held back
