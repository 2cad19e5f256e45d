"""Reading a file anyone may have put there (gnp.host.files): a regular file, bounded."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from gnp.host.files import NotAFile, TooLong, read_bounded


def test_a_regular_file_is_read_whole_up_to_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, 100) == b"x" * 100
    with pytest.raises(TooLong, match="over 99 bytes"):
        read_bounded(path, 99)


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "r.json"
    os.mkfifo(fifo)
    with pytest.raises(NotAFile, match="not a regular file"):
        read_bounded(fifo, 100)  # no writer: a plain open would block here


def test_a_link_to_a_device_is_refused_and_a_folder_is_an_os_error(tmp_path: Path) -> None:
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    with pytest.raises(NotAFile):
        read_bounded(zero, 100)
    with pytest.raises(IsADirectoryError):
        read_bounded(tmp_path, 100)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing.json", 100)


def test_without_follow_a_link_is_refused_even_to_a_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "target.json"
    target.write_bytes(b"{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert read_bounded(link, 100) == b"{}"
    with pytest.raises(OSError) as refused:
        read_bounded(link, 100, follow=False)
    assert refused.value.errno == errno.ELOOP
    assert read_bounded(target, 100, follow=False) == b"{}"
