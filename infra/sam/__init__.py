"""AWS SAM templates on Headwater: ``headwater deploy template.yaml``.

:mod:`infra.sam.cfn_yaml` reads a template (CloudFormation's short-form tags
included); :mod:`infra.sam.template` resolves it (parameters, conditions,
``Globals``, intrinsics, physical names) into the resources to make, refusing
what it does not serve before anything is created; :mod:`infra.sam.package`
zips ``CodeUri`` folders; :mod:`infra.sam.deploy` makes the same calls a boto3
user would (Lambda, S3, SQS, EventBridge) so the stack matches, and
:mod:`infra.sam.watch` redeploys when code changes.
"""
