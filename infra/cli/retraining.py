"""``headwater retraining``: declare an endpoint's retraining policy, and follow its runs.

``put`` reads a policy as JSON (the fields of
:class:`services.retraining.models.RetrainingPolicy` in AWS casing)::

    {"EndpointName": "churn", "ModelPackageGroupName": "churn-models",
     "HoldoutS3Uri": "s3://headwater-data/churn/holdout/", "Objective": "accuracy",
     "Approval": "Auto", "MinImprovement": 0.02, "CooldownSeconds": 900,
     "GroundTruthS3Uri": "s3://headwater-artifacts/churn/ground-truth/",
     "MonitoringScheduleName": "churn-drift"}
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from infra.cli.endpoints import settings_for_client
from services.aws.session import AwsClients
from services.core.settings import Settings
from services.retraining.models import RetrainingPolicy


async def put_policy(settings: Settings, path: Path) -> int:
    """Create or replace a policy from a JSON file; 2 when the file is not a valid policy."""
    from infra.composition.services import build_services

    try:
        policy = RetrainingPolicy.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError) as err:
        print(f"{path}: not a retraining policy: {err}")
        return 2
    settings, _ = settings_for_client(settings.state_dir, settings.aws_endpoint)
    async with AwsClients(settings) as clients:
        retraining = build_services(settings, clients).retraining
        assert retraining is not None
        saved = await retraining.put_policy(policy)
    print(json.dumps(saved.describe(), indent=2))
    return 0


async def show(settings: Settings, endpoint: str | None) -> int:
    """Policies (or one endpoint's), each with its runs: status, step figures and verdict."""
    from infra.composition.services import build_services

    settings, _ = settings_for_client(settings.state_dir, settings.aws_endpoint)
    async with AwsClients(settings) as clients:
        retraining = build_services(settings, clients).retraining
        assert retraining is not None
        policies = [p for p in await retraining.list_policies() if endpoint in (None, p.endpoint_name)]
        for policy in policies:
            lock = f"run in flight: {policy.active_run}" if policy.active_run else "idle"
            print(f"{policy.endpoint_name} <- {policy.model_package_group_name}  ({lock}; approval "
                  f"{policy.approval.value}, {policy.objective} +{policy.min_improvement}, cool-down "
                  f"{policy.cooldown_seconds} s)")
            print(f"    serving: {policy.serving_package_arn or '-'}")
            for run in await retraining.list_runs(policy.endpoint_name):
                when = run.creation_time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
                print(f"    {when}  {run.run_name}  {run.status.value}  labelled {run.labelled_records}/"
                      f"{run.captured_records} captured")
                if run.approval_description:
                    print(f"        {run.approval_description}")
                if run.failure_reason:
                    print(f"        failed: {run.failure_reason}")
        if not policies:
            print("(no retraining policies)" if endpoint is None else f"(no retraining policy for {endpoint})")
    return 0 if policies or endpoint is None else 1
