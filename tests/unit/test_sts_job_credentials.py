"""Job-scoped credentials: the session asked for, a role's shorter limit, and a role that cannot be assumed."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from services.aws.sts import JobCredentials, session_name
from services.core.exceptions import JobFailed

KEYS = {"AccessKeyId": "ASIAJOB", "SecretAccessKey": "secret", "SessionToken": "token"}


class FakeSts:
    """Answers AssumeRole, or refuses it with ``refuse(duration)``'s error."""

    def __init__(self, refuse: Any = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse = refuse

    async def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.refuse and (err := self.refuse(kwargs["DurationSeconds"])):
            raise ClientError({"Error": {"Code": err[0], "Message": err[1]}}, "AssumeRole")
        return {"Credentials": KEYS}


async def test_a_session_of_the_role_named_after_the_job_for_its_runtime() -> None:
    sts = FakeSts()
    env = await JobCredentials(sts).environment("arn:aws:iam::1:role/r", "my-job", 7200)
    assert env == {"AWS_ACCESS_KEY_ID": "ASIAJOB", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"}
    assert sts.calls == [{"RoleArn": "arn:aws:iam::1:role/r", "RoleSessionName": "my-job-job", "DurationSeconds": 7200}]
    await JobCredentials(sts).environment("arn:aws:iam::1:role/r", "j", 60)  # STS's minimum
    await JobCredentials(sts).environment("arn:aws:iam::1:role/r", "j", 5 * 86400)  # STS's maximum
    assert [c["DurationSeconds"] for c in sts.calls[1:]] == [900, 43200]


async def test_a_role_with_a_shorter_limit_gets_the_hour_it_allows() -> None:
    sts = FakeSts(lambda d: ("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration "
                                                "set for this role.") if d > 3600 else None)
    env = await JobCredentials(sts).environment("arn:aws:iam::1:role/r", "long-job", 86400)
    assert env["AWS_SESSION_TOKEN"] == "token"
    assert [c["DurationSeconds"] for c in sts.calls] == [43200, 3600]


async def test_a_role_that_cannot_be_assumed_fails_the_job_naming_it() -> None:
    sts = FakeSts(lambda d: ("AccessDenied", "User: arn:aws:iam::1:user/node is not authorized to perform: "
                                             "sts:AssumeRole on resource: arn:aws:iam::1:role/r"))
    with pytest.raises(JobFailed, match=r"^ClientError: could not assume the job's role arn:aws:iam::1:role/r: "
                                        r"AccessDenied: User: .* is not authorized"):
        await JobCredentials(sts).environment("arn:aws:iam::1:role/r", "j", 600)


def test_session_names_keep_within_what_sts_takes() -> None:
    assert session_name("a" * 80) == "a" * 64
    assert session_name("job/with spaces") == "job-with-spaces-job"
