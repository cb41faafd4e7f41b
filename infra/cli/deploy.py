"""``headwater deploy template.yaml [--stack-name NAME] [--parameter-overrides K=V ...] [--watch]``."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiobotocore.session import get_session

from infra.cli.endpoints import settings_for_client
from infra.sam.cfn_yaml import load
from infra.sam.deploy import CountingClient, DeployClients, Deployer, DeployResult, stack_store
from infra.sam.template import StackContext, read_template
from infra.sam.watch import snapshot, watch
from services.aws.s3 import S3Adapter
from services.aws.s3_documents import S3Backend
from services.aws.session import client_kwargs, node_client_kwargs
from services.core.settings import Settings


def default_stack_name(template: Path) -> str:
    """The stack name when none is given: the template's folder name, as a valid stack name."""
    name = re.sub(r"[^A-Za-z0-9-]", "-", template.resolve().parent.name).strip("-")
    return (name if name[:1].isalpha() else f"stack-{name}")[:64] or "stack"


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``K=V`` pairs (``--parameter-overrides``); ``ParameterKey=K,ParameterValue=V`` as the AWS CLI writes them
    too."""
    out: dict[str, str] = {}
    for item in items:
        match = re.fullmatch(r"ParameterKey=([^,]+),ParameterValue=(.*)", item)
        key, sep, value = (match.group(1), "=", match.group(2)) if match else item.partition("=")
        if not sep or not key:
            raise ValueError(f"--parameter-overrides: {item!r} is not KEY=VALUE")
        out[key] = value
    return out


class DeploySession:
    """Clients on a running node's endpoints, the stack store and the context a template resolves in."""

    def __init__(self, settings: Settings, out: Callable[[str], None] = print) -> None:
        self.settings, self.endpoints = settings_for_client(settings.state_dir, settings.aws_endpoint)
        self.out = out
        self.writes: list[str] = []
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> DeploySession:
        session = get_session()
        s = self.settings

        async def client(service: str) -> object:
            if service == "lambda":
                kwargs = node_client_kwargs(s, "lambda", self.endpoints["lambda"])
            else:
                kwargs = client_kwargs(s, service)
            return await self._stack.enter_async_context(session.create_client(service, **kwargs))

        raw = {name: await client(name) for name in ("lambda", "s3", "sqs", "events", "sts")}
        counted = {name: CountingClient(c, self.writes) for name, c in raw.items()}
        self.account = (await raw["sts"].get_caller_identity())["Account"]
        self.clients = DeployClients(counted["lambda"], counted["s3"], counted["sqs"], counted["events"], s.region)
        # The record is Headwater's own bookkeeping, not a resource of the stack: its writes are not counted.
        self.store = stack_store(S3Backend(S3Adapter(raw["s3"]), s.system_bucket))
        self.deployer = Deployer(self.clients, self.store, s.state_dir / "sam" / "dependencies", self.out)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def context(self, stack_name: str) -> StackContext:
        """Where ``stack_name`` is deployed: this node's region, account, queue URLs and execution role."""
        aws = self.endpoints.get("aws", "aws")
        region, account = self.settings.region, self.account

        def queue_url(name: str) -> str:
            if aws == "aws":
                return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
            return f"{str(aws).rstrip('/')}/{account}/{name}"

        return StackContext(stack_name, region, account, queue_url, self.endpoints.get("execution_role"))

    async def deploy(self, template: Path, stack_name: str, overrides: dict[str, str]) -> DeployResult:
        """Read ``template`` and deploy it as ``stack_name``; prints each change, then a summary line."""
        before = len(self.writes)
        stack = read_template(load(template), self.context(stack_name), template.resolve().parent, overrides)
        result = await self.deployer.deploy(stack, str(template.resolve()))
        result.writes = self.writes[before:]
        if result.changes:
            self.out(f"Stack {stack_name}: {len(result.changes)} change(s).")
        else:
            self.out(f"Stack {stack_name} is up to date: no changes.")
        return result


@contextlib.asynccontextmanager
async def deploy_session(settings: Settings, out: Callable[[str], None] = print) -> AsyncIterator[DeploySession]:
    """A :class:`DeploySession` for the node under ``settings.state_dir``."""
    async with DeploySession(settings, out) as session:
        yield session


def code_paths(template: Path) -> list[Path]:
    """The template and the ``CodeUri`` folders it names (read without resolving: a watch must survive an
    edit that does not resolve yet)."""
    paths = [template]
    try:
        doc = load(template)
    except ValueError:
        return paths
    glob = ((doc.get("Globals") or {}).get("Function") or {}).get("CodeUri")
    for resource in (doc.get("Resources") or {}).values():
        uri = ((resource or {}).get("Properties") or {}).get("CodeUri", glob)
        if isinstance(uri, str) and not uri.startswith("s3://"):
            paths.append((template.resolve().parent / uri).resolve())
    return paths


async def run_deploy(settings: Settings, template: Path, stack_name: str | None, overrides: dict[str, str],
                     watching: bool = False, stop: asyncio.Event | None = None, poll_seconds: float = 1.0) -> int:
    """``headwater deploy``: deploy once; with ``watching``, redeploy on each change until ``stop``."""
    name = stack_name or default_stack_name(template)
    async with deploy_session(settings) as session:
        baseline = snapshot(code_paths(template))
        await session.deploy(template, name, overrides)
        if watching:
            stop = stop or asyncio.Event()
            print(f"Watching {template} and its CodeUri folders; Ctrl-C to stop.", flush=True)

            async def redeploy() -> None:
                await session.deploy(template, name, overrides)

            await watch(lambda: code_paths(template), redeploy, stop, poll_seconds, baseline=baseline)
    return 0
