from __future__ import annotations

import pytest

from gnp import BadFile, Limits, Malformed
from gnp.core.limits import check_file, check_worker


@pytest.mark.parametrize(
    "file", ["stats.json", "a/b/c.json", "agents-2.json", "x.gnp/a.json", "dir/.gnpx.json"]
)
def test_state_files_are_accepted(file: str) -> None:
    assert check_file(file) == file


@pytest.mark.parametrize(
    "file, reason",
    [
        ("/etc/passwd.json", "absolute paths are not allowed"),
        ("C:/x.json", "absolute paths are not allowed"),
        ("../x.json", "'..' is not allowed"),
        ("a/../../x.json", "'..' is not allowed"),
        ("a\\b.json", "backslash"),
        ("a\x00.json", "NUL"),
        ("a\n.json", "control character"),
        (".gnp/ledger.json", "belongs to the protocol"),
        (".GNP/ledger.json", "belongs to the protocol"),
        (".git/config.json", ".git is not a state path"),
        ("a/.Git/x.json", ".git is not a state path"),
        ("stats.txt", "end in .json"),
        ("a//b.json", "empty or '.' path segment"),
        ("./a.json", "empty or '.' path segment"),
        ("", "empty path"),
        ("a" * 300 + ".json", "longer than 255"),
        ("git~1/x.json", ".git is not a state path"),
        ("GNP~1/x.json", "belongs to the protocol"),
        (".git./x.json", "ends in a dot or a space"),
        (".gnp /k.json", "ends in a dot or a space"),
        (".g\u200cit/x.json", "invisible"),
        ("evil\u202enosj.json", "invisible"),
        ("a\x85b.json", "control character"),
        ("a/c:b.json", 'one of < > : "'),
        ("con.json", "reserved device name"),
        ("dir/LPT1.json", "reserved device name"),
        ("\u00e9" * 200 + ".json", "longer than 255 bytes"),
        ("e\u0301.json", "NFC"),
        ("a.json/b.json", "a folder name cannot end in .json"),
        ("State.json", "lowercase a-z"),
        ("dir/Stats.json", "lowercase a-z"),
        ("\u0430gents.json", "lowercase a-z"),  # Cyrillic a
        ("\uff41gents.json", "lowercase a-z"),  # fullwidth a
        ("\u00e9.json", "lowercase a-z"),  # NFC, but not ASCII: HFS+ and NFD hubs differ
        ("stats.JSON", "end in .json"),
        ("a b.json", "lowercase a-z"),
        ("50%.json", "lowercase a-z"),
        ("\u2024\u2024/x.json", "lowercase a-z"),  # one-dot leaders, not '..'
    ],
)
def test_unsafe_files_are_refused(file: str, reason: str) -> None:
    with pytest.raises(BadFile, match=reason):
        check_file(file)


def test_a_refused_name_is_shown_escaped_never_as_the_name_it_imitates() -> None:
    with pytest.raises(BadFile) as refused:
        check_file("\u0430gents.json")
    assert str(refused.value).startswith("file '\\u0430gents.json' refused: ")
    assert str(refused.value).isascii()


def test_file_must_be_a_string() -> None:
    with pytest.raises(BadFile, match="must be a string"):
        check_file(["a.json"])


@pytest.mark.parametrize("worker", ["a", "agent-7", "cron.hourly", "x_1", "0" * 64])
def test_worker_ids(worker: str) -> None:
    assert check_worker(worker) == worker


@pytest.mark.parametrize(
    "worker", ["", "Agent", "-a", ".a", "a b", "a/b", "0" * 65, 7, None, "a..b", "w.lock", "w."]
)
def test_bad_worker_ids(worker: object) -> None:
    with pytest.raises(Malformed, match="worker id"):
        check_worker(worker)


def test_limits_are_positive_integers() -> None:
    assert Limits(max_ops=5).max_ops == 5
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="must be a positive integer"):
            Limits(max_ops=bad)  # type: ignore[arg-type]
