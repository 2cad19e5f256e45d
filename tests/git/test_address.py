"""A URL's secret is apart from what gnp keeps, hashes and prints."""

from __future__ import annotations

import pytest

from gnp.git.address import clean, parse, redact
from gnp.git.remote import mirror_path


@pytest.mark.parametrize(
    ("url", "kept", "user", "password", "host", "path"),
    [
        (
            "https://alice:s3cr%40t@example.com:8443/x/hub.git",
            "https://example.com:8443/x/hub.git",
            "alice",
            "s3cr@t",
            "example.com:8443",
            "/x/hub.git",
        ),
        (
            "https://TOKEN@github.com/o/r.git",
            "https://github.com/o/r.git",
            "TOKEN",
            None,
            "github.com",
            "/o/r.git",
        ),
        (
            "http://127.0.0.1:8080/hub.git",
            "http://127.0.0.1:8080/hub.git",
            None,
            None,
            "127.0.0.1:8080",
            "/hub.git",
        ),
        # Over ssh the user names the account: kept; a password is not.
        (
            "ssh://git@h:2222/srv/hub.git",
            "ssh://git@h:2222/srv/hub.git",
            "git",
            None,
            "h:2222",
            "/srv/hub.git",
        ),
        ("ssh://u:pw@h/~/hub.git", "ssh://u@h/~/hub.git", "u", "pw", "h", "/~/hub.git"),
        (
            "git@github.com:org/r.git",
            "git@github.com:org/r.git",
            "git",
            None,
            "github.com",
            "org/r.git",
        ),
        ("file:///tmp/h.git", "file:///tmp/h.git", None, None, "", "/tmp/h.git"),
        (
            "git://127.0.0.1:9418/hub.git",
            "git://127.0.0.1:9418/hub.git",
            None,
            None,
            "127.0.0.1:9418",
            "/hub.git",
        ),
    ],
)
def test_a_url_splits_into_what_is_kept_and_its_secret(
    url: str, kept: str, user: str | None, password: str | None, host: str, path: str
) -> None:
    address = parse(url)
    assert (address.url, address.username, address.password) == (kept, user, password)
    assert (address.host, address.path) == (host, path)
    assert clean(url) == kept
    assert password is None or password not in repr(address)


def test_every_url_in_a_message_is_redacted() -> None:
    said = redact("cannot reach https://a:tok@h/x.git: refused; tried ssh://u:pw@h/y too")
    assert said == "cannot reach https://h/x.git: refused; tried ssh://u@h/y too"


def test_the_mirror_is_named_by_the_url_without_its_secret() -> None:
    assert mirror_path("https://a:one@h/x.git") == mirror_path("https://h/x.git")
    assert mirror_path("https://a:one@h/x.git") == mirror_path("https://b:two@h/x.git")
    assert mirror_path("https://h/x.git") != mirror_path("https://h/y.git")
