"""The SageMaker Python SDK's defaults for a node on an emulator: the default bucket.

Both SDK lines name their default bucket ``sagemaker-<region>-<account>``, and to learn the account they
ask STS at AWS's regional endpoint, whatever ``AWS_ENDPOINT_URL`` says. So with no bucket configured, every
call that stages a local file in S3 (the SDK v3's ``ModelTrainer`` with ``SourceCode`` or a local
``InputData``, ``Session.upload_data``, the SDK v2's framework estimators) tries to reach AWS. Both read
defaults from the file ``SAGEMAKER_ADMIN_CONFIG_OVERRIDE`` names (the administrator's layer, under the
user's own config, which still wins); the node writes one naming its artifacts bucket, and ``headwater
env`` exports its path. On AWS nothing is written: the SDK finds the account there.
"""

from __future__ import annotations

import json
from pathlib import Path

from services.core.settings import Settings

SDK_DEFAULTS_FILE = "sagemaker-sdk-defaults.yaml"
ENDPOINTS_KEY = "sagemaker_sdk_defaults"  # its path, in endpoints.json


def sdk_defaults(settings: Settings) -> dict[str, object]:
    """The SDK config document: ``SageMaker.PythonSDK.Modules.Session.DefaultS3Bucket``."""
    return {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {
        "Session": {"DefaultS3Bucket": settings.artifacts_bucket}}}}}


def write_sdk_defaults(settings: Settings) -> Path | None:
    """Write the defaults file into the state dir (JSON, which is YAML); ``None`` on AWS."""
    if settings.is_real_aws:
        return None
    path = (settings.state_dir / SDK_DEFAULTS_FILE).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sdk_defaults(settings), indent=2) + "\n")
    tmp.replace(path)
    return path
