"""Atomic writes (``nail_jax.files``): all or nothing, no temporary file left behind."""

import json
import os

import pytest

from nail_jax.files import write_atomic, write_json_atomic, write_jsonl_atomic


def test_writes_replace_the_file_and_leave_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    write_json_atomic(path, {"x": 1})
    write_json_atomic(path, {"x": 2})
    assert json.loads(path.read_text()) == {"x": 2}
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    write_jsonl_atomic(tmp_path / "b.jsonl", [{"a": 1}, {"b": 2}])
    assert (tmp_path / "b.jsonl").read_text() == '{"a": 1}\n{"b": 2}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.jsonl"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.json"
    write_json_atomic(path, {"x": 1})

    def fail(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, fail)
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
