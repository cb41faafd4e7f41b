"""The Lambda control plane over the state store: functions, their code, versions and aliases.

A function is one :class:`~services.functions.models.FunctionDoc`, updated
with optimistic concurrency. Its zip is kept in the system bucket under its
SHA-256 (so a package shared by versions is stored once) and unpacked once
per hash under ``<state dir>/functions/code``. As on Lambda, a new function
is ``Pending`` and an updated one ``InProgress`` until its code is unpacked;
then ``Active`` / ``Successful``. Settings other than code and configuration
(concurrency, permissions, event invoke configurations) are in
:mod:`services.functions.settings_ops`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from services.aws.s3 import S3Adapter
from services.core.exceptions import ResourceInUse, ResourceNotFound
from services.core.store import DocumentStore
from services.core.times import utcnow
from services.functions.code import Package, check_handler, read_package, unpack
from services.functions.exceptions import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from services.functions.models import (
    DEFAULT_MEMORY,
    DEFAULT_TIMEOUT,
    PYTHON_RUNTIMES,
    AliasConfig,
    FunctionDoc,
    VersionConfig,
)
from services.functions.names import LATEST, FunctionRef, check_alias_name, function_arn, is_version

log = logging.getLogger(__name__)

MAX_TIMEOUT = 900
# Variables Lambda sets itself and refuses in a function's Environment.
RESERVED_VARIABLES = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
ChangeHook = Callable[[str], Awaitable[None]]


def last_modified(now: datetime) -> str:
    """``LastModified`` as Lambda writes it: ``2024-01-31T12:00:00.000+0000``."""
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def log_group(name: str) -> str:
    """The function's CloudWatch Logs group."""
    return f"/aws/lambda/{name}"


class FunctionsService:
    """Create, read, update and delete functions, versions and aliases."""

    def __init__(self, store: DocumentStore[FunctionDoc], s3: S3Adapter, system_bucket: str, code_root: Path, *,
                 region: str, account_id: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.s3 = s3
        self.system_bucket = system_bucket
        self.code_root = code_root
        self.region = region
        self.account_id = account_id
        self.clock = clock
        # Called with a function's name after its code or configuration changed or it was deleted: running
        # environments of what changed are retired.
        self.on_change: ChangeHook | None = None
        self.cache_seconds = 1.0
        self._cache: dict[str, tuple[float, FunctionDoc]] = {}
        self._settling: set[asyncio.Task[None]] = set()
        self._code_locks: dict[str, asyncio.Lock] = {}

    def arn(self, name: str, qualifier: str | None = None) -> str:
        """The function's ARN."""
        return function_arn(self.region, self.account_id, name, qualifier)

    # ------------------------------------------------------------------ reading

    async def require(self, name: str, *, cached: bool = False) -> FunctionDoc:
        """The function's document, or Lambda's ``ResourceNotFoundException``.

        ``cached``: a copy read less than ``cache_seconds`` ago will do (the invoke path: a warm invocation
        must not wait for the store; a change made through another node is seen within that time)."""
        if cached and (hit := self._cache.get(name)) is not None and hit[0] > time.monotonic():
            return hit[1]
        doc = await self.store.get(name)
        if doc is None:
            self._cache.pop(name, None)
            raise ResourceNotFoundException(f"Function not found: {self.arn(name)}")
        self._remember(doc)
        return doc

    def _remember(self, doc: FunctionDoc | None, name: str | None = None) -> None:
        if doc is None:
            self._cache.pop(name or "", None)
        else:
            self._cache[doc.function_name] = (time.monotonic() + self.cache_seconds, doc)

    async def resolve(self, ref: FunctionRef, *, cached: bool = False) -> tuple[FunctionDoc, VersionConfig,
                                                                                 str | None]:
        """The function, the version ``ref`` runs (an alias resolved) and the alias, if one was named."""
        doc = await self.require(ref.name, cached=cached)
        qualifier = ref.qualifier or LATEST
        alias = None
        if qualifier != LATEST and not is_version(qualifier):
            found = doc.aliases.get(qualifier)
            if found is None:
                raise ResourceNotFoundException(f"Function not found: {self.arn(ref.name, qualifier)}")
            alias, qualifier = qualifier, found.function_version
        config = doc.version(qualifier)
        if config is None:
            raise ResourceNotFoundException(f"Function not found: {self.arn(ref.name, qualifier)}")
        return doc, config, alias

    async def get_function(self, ref: FunctionRef) -> dict[str, Any]:
        """``GetFunction``: configuration, where the code is, tags and reserved concurrency."""
        doc, config, _ = await self.resolve(ref)
        out: dict[str, Any] = {
            "Configuration": config.describe(),
            "Code": {"RepositoryType": "S3",
                     "Location": await self.s3.presigned_get(self.system_bucket, config.code_key)},
        }
        if doc.tags:
            out["Tags"] = doc.tags
        if doc.reserved_concurrency is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": doc.reserved_concurrency}
        return out

    async def list_functions(self, all_versions: bool = False) -> list[dict[str, Any]]:
        """Every function's ``$LATEST`` configuration (with ``all_versions``, every version's), by name."""
        out: list[dict[str, Any]] = []
        for doc in sorted(await self.store.list(), key=lambda d: d.function_name):
            out.append(doc.latest.describe())
            if all_versions:
                out.extend(v.describe() for _, v in sorted(doc.versions.items(), key=lambda kv: int(kv[0])))
        return out

    async def list_versions(self, name: str) -> list[dict[str, Any]]:
        """``ListVersionsByFunction``: ``$LATEST`` then the published versions in order."""
        doc = await self.require(name)
        latest = doc.latest.model_copy(update={"function_arn": self.arn(name, LATEST)})
        return [latest.describe()] + [v.describe() for _, v in sorted(doc.versions.items(), key=lambda kv: int(kv[0]))]

    # ------------------------------------------------------------------ creating and updating

    async def create_function(self, params: dict[str, Any]) -> dict[str, Any]:
        """``CreateFunction``; returns the new ``$LATEST`` (or, with ``Publish``, version 1) configuration."""
        name = params["FunctionName"].rsplit(":", 1)[-1] if params["FunctionName"].startswith("arn:") \
            else params["FunctionName"]
        if params.get("PackageType") == "Image" or (params.get("Code") or {}).get("ImageUri"):
            raise InvalidParameterValueException(
                "Container-image functions (PackageType Image) are not supported by Headwater yet: "
                "deploy a zip package with a python3.10 to python3.13 Runtime")
        runtime = params.get("Runtime")
        if runtime not in PYTHON_RUNTIMES:
            raise InvalidParameterValueException(
                f"The runtime parameter of {runtime} is not supported: Headwater runs "
                f"{', '.join(PYTHON_RUNTIMES)} (with the node's Python {sys.version_info[0]}.{sys.version_info[1]})")
        if not params.get("Handler"):
            raise InvalidParameterValueException("Handler is required for a Zip function")
        package = await self._package(params.get("Code") or {})
        check_handler(package, params["Handler"])
        _check_settings(params)
        now = self.clock()
        config = VersionConfig(
            function_name=name, function_arn=self.arn(name), runtime=runtime, role=params["Role"],
            handler=params["Handler"], code_size=package.size, code_sha256=package.code_sha256,
            description=params.get("Description", ""), timeout=params.get("Timeout", DEFAULT_TIMEOUT),
            memory_size=params.get("MemorySize", DEFAULT_MEMORY), last_modified=last_modified(now),
            environment=_environment(params.get("Environment")), dead_letter_config=_dlq(params.get("DeadLetterConfig")),
            revision_id=str(uuid.uuid4()), state="Pending", state_reason="The function is being created.",
            state_reason_code="Creating", logging_config={"LogFormat": "Text", "LogGroup": log_group(name)},
            code_key=await self._keep(package))
        doc = FunctionDoc(function_name=name, latest=config, tags=params.get("Tags") or {})
        try:
            await self.store.create(name, doc)
        except ResourceInUse as err:
            raise ResourceConflictException(f"Function already exist: {name}") from err
        self._remember(doc)
        self._settle(name, package)
        if params.get("Publish"):
            return await self.publish_version(name, {})
        return config.describe()

    async def update_function_code(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """``UpdateFunctionCode``: new code for ``$LATEST`` (``InProgress`` until unpacked)."""
        doc = await self.require(name)
        package = await self._package(params)
        check_handler(package, doc.latest.handler)
        if params.get("DryRun"):
            return doc.latest.model_copy(update={"code_sha256": package.code_sha256,
                                                 "code_size": package.size}).describe()
        key = await self._keep(package)

        def change(d: FunctionDoc) -> FunctionDoc:
            _check_revision(d.latest, params.get("RevisionId"))
            d.latest = d.latest.model_copy(update={
                "code_sha256": package.code_sha256, "code_size": package.size, "code_key": key,
                "last_modified": last_modified(self.clock()), "revision_id": str(uuid.uuid4()),
                "last_update_status": "InProgress", "last_update_status_reason": "The function is being updated.",
                "last_update_status_reason_code": "Updating"})
            return d

        _, after = await self.update_doc(name, change)
        await self._changed(name)
        self._settle(name, package)
        if params.get("Publish"):
            return await self.publish_version(name, {})
        return after.latest.describe()

    async def update_function_configuration(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """``UpdateFunctionConfiguration``."""
        doc = await self.require(name)
        _check_settings(params)
        if "Runtime" in params and params["Runtime"] not in PYTHON_RUNTIMES:
            raise InvalidParameterValueException(f"The runtime parameter of {params['Runtime']} is not supported: "
                                                 f"Headwater runs {', '.join(PYTHON_RUNTIMES)}")
        if "Handler" in params:
            package = read_package(await self._code_bytes(doc.latest))
            check_handler(package, params["Handler"])
        updates: dict[str, Any] = {}
        for member, attr in (("Runtime", "runtime"), ("Role", "role"), ("Handler", "handler"),
                             ("Description", "description"), ("Timeout", "timeout"), ("MemorySize", "memory_size")):
            if member in params:
                updates[attr] = params[member]
        if "Environment" in params:
            updates["environment"] = _environment(params["Environment"])
        if "DeadLetterConfig" in params:
            updates["dead_letter_config"] = _dlq(params["DeadLetterConfig"])

        def change(d: FunctionDoc) -> FunctionDoc:
            _check_revision(d.latest, params.get("RevisionId"))
            d.latest = d.latest.model_copy(update={**updates, "last_modified": last_modified(self.clock()),
                                                   "revision_id": str(uuid.uuid4())})
            return d

        _, after = await self.update_doc(name, change)
        await self._changed(name)
        return after.latest.describe()

    async def delete_function(self, ref: FunctionRef) -> None:
        """``DeleteFunction``: the function, or one published version of it."""
        doc = await self.require(ref.name)
        if ref.qualifier is None:
            await self.store.delete(ref.name)
            self._remember(None, ref.name)
            await self._changed(ref.name)
            return
        if ref.qualifier == LATEST or not is_version(ref.qualifier):
            raise InvalidParameterValueException("Deletion of aliases or $LATEST is not supported through "
                                                 "DeleteFunction: name a published version, or none")
        if ref.qualifier not in doc.versions:
            raise ResourceNotFoundException(f"Function not found: {self.arn(ref.name, ref.qualifier)}")
        using = sorted(a.name for a in doc.aliases.values() if a.function_version == ref.qualifier)
        if using:
            raise ResourceConflictException(f"Unable to delete version because the following aliases reference "
                                            f"it: [{', '.join(using)}]")

        def change(d: FunctionDoc) -> FunctionDoc:
            d.versions.pop(ref.qualifier or "", None)
            return d

        await self.update_doc(ref.name, change)
        await self._changed(ref.name)

    async def publish_version(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """``PublishVersion``: a snapshot of ``$LATEST`` (the last version again when nothing changed)."""
        await self.require(name)

        def change(d: FunctionDoc) -> FunctionDoc | None:
            _check_revision(d.latest, params.get("RevisionId"))
            if params.get("CodeSha256") and params["CodeSha256"] != d.latest.code_sha256:
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({params['CodeSha256']}) is different from current CodeSHA256 in $LATEST "
                    f"({d.latest.code_sha256}). Please try again with the CodeSHA256 in $LATEST.")
            last = d.versions.get(str(d.last_version))
            if last is not None and d.latest.same_code_and_settings(last):
                return None
            d.last_version += 1
            number = str(d.last_version)
            d.versions[number] = d.latest.model_copy(update={
                "version": number, "function_arn": self.arn(name, number),
                "description": params.get("Description", d.latest.description),
                "revision_id": str(uuid.uuid4()), "last_modified": last_modified(self.clock())})
            return d

        _, after = await self.update_doc(name, change)
        return after.versions[str(after.last_version)].describe()

    # ------------------------------------------------------------------ aliases

    async def create_alias(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """``CreateAlias``."""
        alias = params["Name"]
        check_alias_name(alias)
        _no_routing(params)

        def change(d: FunctionDoc) -> FunctionDoc:
            if alias in d.aliases:
                raise ResourceConflictException(f"Alias already exists: {self.arn(name, alias)}")
            _check_alias_target(d, self.arn(name, params["FunctionVersion"]), params["FunctionVersion"])
            d.aliases[alias] = AliasConfig(alias_arn=self.arn(name, alias), name=alias,
                                           function_version=params["FunctionVersion"],
                                           description=params.get("Description", ""), revision_id=str(uuid.uuid4()))
            return d

        await self.require(name)
        _, after = await self.update_doc(name, change)
        return after.aliases[alias].describe()

    async def get_alias(self, name: str, alias: str) -> dict[str, Any]:
        """``GetAlias``."""
        doc = await self.require(name)
        if alias not in doc.aliases:
            raise ResourceNotFoundException(f"Cannot find alias arn: {self.arn(name, alias)}")
        return doc.aliases[alias].describe()

    async def update_alias(self, name: str, alias: str, params: dict[str, Any]) -> dict[str, Any]:
        """``UpdateAlias``: its version and description."""
        _no_routing(params)

        def change(d: FunctionDoc) -> FunctionDoc:
            found = d.aliases.get(alias)
            if found is None:
                raise ResourceNotFoundException(f"Cannot find alias arn: {self.arn(name, alias)}")
            if params.get("RevisionId") and params["RevisionId"] != found.revision_id:
                raise PreconditionFailedException("The Revision Id provided does not match the latest Revision Id. "
                                                  "Call the GetAlias API to retrieve the latest Revision Id")
            version = params.get("FunctionVersion", found.function_version)
            _check_alias_target(d, self.arn(name, version), version)
            d.aliases[alias] = found.model_copy(update={
                "function_version": version, "description": params.get("Description", found.description),
                "revision_id": str(uuid.uuid4())})
            return d

        await self.require(name)
        _, after = await self.update_doc(name, change)
        await self._changed(name)
        return after.aliases[alias].describe()

    async def delete_alias(self, name: str, alias: str) -> None:
        """``DeleteAlias`` (absent is fine, as on Lambda)."""
        def change(d: FunctionDoc) -> FunctionDoc | None:
            return d if d.aliases.pop(alias, None) is not None else None

        await self.require(name)
        await self.update_doc(name, change)

    async def list_aliases(self, name: str, version: str | None = None) -> list[dict[str, Any]]:
        """``ListAliases``, optionally those pointing at ``version``."""
        doc = await self.require(name)
        return [a.describe() for _, a in sorted(doc.aliases.items())
                if version is None or a.function_version == version]

    # ------------------------------------------------------------------ code

    async def ensure_code(self, config: VersionConfig) -> Path:
        """The folder holding ``config``'s unpacked code (unpacked now if this node has not yet)."""
        sha_hex = base64.b64decode(config.code_sha256).hex()
        target = self.code_root / sha_hex
        if target.is_dir():
            return target
        lock = self._code_locks.setdefault(sha_hex, asyncio.Lock())
        async with lock:
            if not target.is_dir():
                package = read_package(await self._code_bytes(config))
                await asyncio.to_thread(unpack, package, self.code_root)
        return target

    async def resume(self) -> None:
        """Settle what a stopped node left ``Pending`` or ``InProgress``."""
        for doc in await self.store.list():
            if doc.latest.state == "Pending" or doc.latest.last_update_status == "InProgress":
                self._settle(doc.function_name, None)

    async def _code_bytes(self, config: VersionConfig) -> bytes:
        data = await self.s3.get_bytes(self.system_bucket, config.code_key)
        if data is None:
            raise ResourceNotFoundException(f"The code of {config.function_arn} is missing from "
                                            f"s3://{self.system_bucket}/{config.code_key}")
        return data

    async def _package(self, code: dict[str, Any]) -> Package:
        if code.get("ZipFile") is not None:
            raw = code["ZipFile"]
            try:
                data = base64.b64decode(raw, validate=True) if isinstance(raw, str) else bytes(raw)
            except (binascii.Error, ValueError) as err:
                raise InvalidParameterValueException("ZipFile is not valid base64") from err
        elif code.get("S3Bucket") and code.get("S3Key"):
            found = await self.s3.get_bytes(code["S3Bucket"], code["S3Key"])
            if found is None:
                raise InvalidParameterValueException(
                    f"Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key "
                    f"does not exist. (s3://{code['S3Bucket']}/{code['S3Key']})")
            data = found
        elif code.get("ImageUri"):
            raise InvalidParameterValueException("Container-image functions are not supported by Headwater yet")
        else:
            raise InvalidParameterValueException("Please provide a source for function code: ZipFile, or "
                                                 "S3Bucket and S3Key")
        return await asyncio.to_thread(read_package, data)

    async def _keep(self, package: Package) -> str:
        key = f"functions/code/{package.sha256_hex}.zip"
        await self.s3.put_bytes(self.system_bucket, key, package.data, "application/zip")
        return key

    def _settle(self, name: str, package: Package | None) -> None:
        task = asyncio.create_task(self._activate(name, package), name=f"function-settle-{name}")
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _activate(self, name: str, package: Package | None) -> None:
        """Unpack the code of ``$LATEST``; then ``Active`` / ``Successful`` (``Failed`` with a reason if not)."""
        try:
            doc = await self.require(name)
            error = None
            try:
                if package is not None and package.code_sha256 == doc.latest.code_sha256:
                    await asyncio.to_thread(unpack, package, self.code_root)
                else:
                    await self.ensure_code(doc.latest)
            except Exception as err:  # noqa: BLE001 - recorded on the function, as Lambda records it
                error = f"{type(err).__name__}: {err}"
            sha = doc.latest.code_sha256

            def change(d: FunctionDoc) -> FunctionDoc | None:
                if d.latest.code_sha256 != sha:
                    return None  # newer code arrived meanwhile: its own settling reports it
                if error is None:
                    d.latest = d.latest.model_copy(update={
                        "state": "Active", "state_reason": None, "state_reason_code": None,
                        "last_update_status": "Successful", "last_update_status_reason": None,
                        "last_update_status_reason_code": None})
                elif d.latest.state == "Pending":
                    d.latest = d.latest.model_copy(update={"state": "Failed", "state_reason": error,
                                                           "state_reason_code": "InternalError"})
                else:
                    d.latest = d.latest.model_copy(update={
                        "last_update_status": "Failed", "last_update_status_reason": error,
                        "last_update_status_reason_code": "InternalError"})
                for number, version in d.versions.items():
                    if version.state == "Pending" and version.code_sha256 == sha:
                        d.versions[number] = version.model_copy(update={
                            "state": d.latest.state, "state_reason": d.latest.state_reason,
                            "state_reason_code": d.latest.state_reason_code})
                return d

            await self.update_doc(name, change)
        except ResourceNotFoundException:
            return  # deleted meanwhile
        except Exception:  # noqa: BLE001 - the next start settles it (resume)
            log.exception("could not settle function %s", name)

    async def update_doc(self, name: str, change: Callable[[FunctionDoc], FunctionDoc | None]
                         ) -> tuple[FunctionDoc, FunctionDoc]:
        """Read-modify-write the function's document (``change`` may run more than once); ``(before, after)``."""
        try:
            before, after = await self.store.update(name, change)
        except ResourceNotFound as err:  # the store's own: deleted meanwhile
            self._remember(None, name)
            raise ResourceNotFoundException(f"Function not found: {self.arn(name)}") from err
        self._remember(after)
        return before, after

    async def _changed(self, name: str) -> None:
        if self.on_change is not None:
            await self.on_change(name)

    async def close(self) -> None:
        """Wait for settling in progress (a node stopping)."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)


def _check_revision(config: VersionConfig, revision_id: str | None) -> None:
    if revision_id and revision_id != config.revision_id:
        raise PreconditionFailedException("The Revision Id provided does not match the latest Revision Id. "
                                          "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")


def _check_settings(params: dict[str, Any]) -> None:
    timeout = params.get("Timeout")
    if timeout is not None and not 1 <= timeout <= MAX_TIMEOUT:
        raise InvalidParameterValueException(f"Timeout must be between 1 and {MAX_TIMEOUT} seconds (got {timeout})")
    variables = ((params.get("Environment") or {}).get("Variables") or {})
    reserved = sorted(k for k in variables if k in RESERVED_VARIABLES)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. Reserved "
            f"keys used in this request: {', '.join(reserved)}")
    target = (params.get("DeadLetterConfig") or {}).get("TargetArn")
    if target and not target.startswith("arn:aws:sqs:"):
        raise InvalidParameterValueException(
            f"DeadLetterConfig TargetArn {target} is not supported: Headwater dead-letters to SQS queues")


def _environment(env: dict[str, Any] | None) -> dict[str, Any] | None:
    if env is None:
        return None
    return {"Variables": dict(env.get("Variables") or {})}


def _dlq(config: dict[str, Any] | None) -> dict[str, Any] | None:
    return {"TargetArn": config["TargetArn"]} if config and config.get("TargetArn") else None


def _no_routing(params: dict[str, Any]) -> None:
    if (params.get("RoutingConfig") or {}).get("AdditionalVersionWeights"):
        raise InvalidParameterValueException("Weighted aliases (RoutingConfig) are not supported by Headwater yet")


def _check_alias_target(doc: FunctionDoc, arn: str, version: str) -> None:
    if version != LATEST and version not in doc.versions:
        raise ResourceNotFoundException(f"Function not found: {arn}")
