"""Who may call a node's servers: the bind check at start, and the token check of each request.

Nothing here listens: a non-loopback address is only ever given to the check.
"""

from __future__ import annotations

import pytest

from services.core.access import check_access, check_bind, is_loopback, presented_credential
from services.core.exceptions import MissingAuthenticationTokenException, UnrecognizedClientException, UnsafeBindHost
from services.core.settings import Settings

TOKEN = "hw-unit-token"
SIGV4 = ("AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/sagemaker/aws4_request, "
         "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0123abcd")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.10", "10.0.0.1", "no-such-host.invalid"])
def test_addresses_beyond_this_machine(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "", "192.168.1.10"])
def test_a_non_loopback_bind_without_a_token_names_both_settings(host: str) -> None:
    with pytest.raises(UnsafeBindHost) as exc:
        check_bind(Settings(bind_host=host))
    assert "HEADWATER_BIND_HOST" in str(exc.value) and "HEADWATER_ACCESS_TOKEN" in str(exc.value)


def test_an_empty_token_is_no_token() -> None:
    with pytest.raises(UnsafeBindHost):
        check_bind(Settings(bind_host="0.0.0.0", access_token=""))


def test_a_non_loopback_bind_with_a_token_or_a_loopback_one_starts() -> None:
    check_bind(Settings(bind_host="0.0.0.0", access_token=TOKEN))
    check_bind(Settings(bind_host="127.0.0.2"))
    check_bind(Settings())


def test_the_embedded_emulator_stays_on_loopback() -> None:
    # moto checks no credentials: a token cannot protect it, so it is refused even with one.
    with pytest.raises(UnsafeBindHost, match="HEADWATER_EMULATOR_HOST"):
        check_bind(Settings(emulator_host="0.0.0.0", access_token=TOKEN))
    check_bind(Settings(emulator_host="0.0.0.0", aws_endpoint="http://127.0.0.1:4566"))  # not started


def test_the_token_does_not_show_in_the_settings() -> None:
    assert TOKEN not in repr(Settings(access_token=TOKEN))


@pytest.mark.parametrize("authorization, query, presented", [
    (SIGV4.format(key=TOKEN), None, TOKEN),
    (f"Bearer {TOKEN}", None, TOKEN),
    (f"bearer  {TOKEN} ", None, TOKEN),
    (None, f"{TOKEN}/20260101/us-east-1/sagemaker/aws4_request", TOKEN),
    (None, None, None),
    ("Basic dXNlcjpwYXNz", None, None),
], ids=["sigv4", "bearer", "bearer-spacing", "presigned", "none", "other-scheme"])
def test_the_credential_a_request_carries(authorization: str | None, query: str | None,
                                          presented: str | None) -> None:
    assert presented_credential(authorization, query) == presented


def test_requests_with_and_without_the_token() -> None:
    check_access(TOKEN, SIGV4.format(key=TOKEN))
    check_access(TOKEN, f"Bearer {TOKEN}")
    with pytest.raises(MissingAuthenticationTokenException):
        check_access(TOKEN, None)
    with pytest.raises(UnrecognizedClientException) as exc:
        check_access(TOKEN, SIGV4.format(key="testing"))
    assert (exc.value.code, exc.value.status) == ("UnrecognizedClientException", 403)
    with pytest.raises(UnrecognizedClientException):
        check_access(TOKEN, f"Bearer {TOKEN}x")
