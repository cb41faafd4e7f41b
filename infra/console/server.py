"""The console's aiohttp application: pages, server-sent events, the few POSTs, static assets.

Always on loopback, whatever the node's bind host: the console is for the person at the machine, and a
browser cannot send the node's access token. Every POST carries the session token (:mod:`.security`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from infra.console.data import TERMINAL, ConsoleData
from infra.console.security import FIELD, HEADER, TOKEN_KEY, SessionTokens
from services.core.exceptions import ResourceNotFound, ServiceError

HERE = Path(__file__).parent
LOOPBACK = "127.0.0.1"
# How often a live page's stream looks for changes.
TICK_SECONDS = 1.0
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")


def _time(epoch: float | None) -> str:
    if not epoch:
        return ""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def json_text(value: Any) -> str:
    """JSON for a page; the template autoescapes it like any other text, and the page reads it back as
    ``textContent``: no user string is ever parsed as markup or script."""
    return json.dumps(value, sort_keys=True)


class ConsoleServer:
    """Serves the console until :meth:`close`."""

    def __init__(self, data: ConsoleData, *, tick_seconds: float = TICK_SECONDS) -> None:
        self.data = data
        self.tick = tick_seconds
        self.tokens = SessionTokens()
        self.closing = asyncio.Event()  # ends every live stream, so a stop never waits on an open page
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                      autoescape=True, undefined=jinja2.ChainableUndefined, enable_async=True)
        self.env.filters["time"] = _time
        self.env.filters["json_text"] = json_text
        self._runner: web.AppRunner | None = None

    def make_app(self) -> web.Application:
        """The application: pages, streams, actions and ``/static``."""
        app = web.Application(middlewares=[self.tokens.middleware()])
        app.add_routes([
            web.get("/", self.overview),
            web.get("/events/overview", self.overview_events),
            web.get("/training/{name}", self.training),
            web.get("/training/{name}/metrics", self.training_metrics),
            web.get("/training/{name}/model.tar.gz", self.training_model),
            web.get("/events/training/{name}", self.training_events),
            web.post("/training/{name}/stop", self.training_stop),
            web.get("/registry", self.registry),
            web.get("/registry/{group}", self.registry_group),
            web.post("/registry/approval", self.registry_approval),
            web.static("/static", HERE / "static"),
        ])
        return app

    async def start(self, port: int) -> str:
        """Listen on loopback; the console's URL."""
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, port).start()
        host, real_port = self._runner.addresses[0][:2]
        return f"http://{host}:{real_port}"

    async def close(self) -> None:
        """End the live streams, then stop listening."""
        self.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ rendering

    async def render(self, template: str, request: web.Request, status: int = 200, **ctx: Any) -> web.Response:
        """A page; every page gets the session token for its forms and htmx's header."""
        html = await self.env.get_template(template).render_async(
            token=request[TOKEN_KEY], token_field=FIELD, token_header=HEADER, **ctx)
        return web.Response(text=html, content_type="text/html", status=status)

    async def fragment(self, template: str, **ctx: Any) -> str:
        """A partial (``{% block %}``-free template) for a live update."""
        return await self.env.get_template(template).render_async(**ctx)

    async def not_found(self, request: web.Request, err: ServiceError) -> web.Response:
        return await self.render("error.html", request, status=404, error=err)

    # ------------------------------------------------------------------ server-sent events

    async def stream(self, request: web.Request, produce: Callable[[], Awaitable[list[tuple[str, str]]]],
                     done: Callable[[], bool] = lambda: False) -> web.StreamResponse:
        """Send ``(event, data)`` pairs from ``produce`` every tick until the page goes, the node stops or
        ``done()``; each data line goes out as its own ``data:`` line, as the protocol asks."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            while True:
                for event, data in await produce():
                    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
                    await response.write(f"event: {event}\n{lines}\n".encode())
                if done():
                    await response.write(b"event: close\ndata: done\n\n")  # the page stops reconnecting
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.closing.wait(), self.tick)
                if self.closing.is_set():
                    break
        return response

    @staticmethod
    def changed(last: dict[str, str], event: str, data: str) -> list[tuple[str, str]]:
        """``[(event, data)]`` when ``data`` differs from what was last sent as ``event``."""
        if last.get(event) == data:
            return []
        last[event] = data
        return [(event, data)]

    # ------------------------------------------------------------------ overview

    async def overview(self, request: web.Request) -> web.Response:
        return await self.render("overview.html", request, o=await self.data.overview())

    async def overview_events(self, request: web.Request) -> web.StreamResponse:
        last: dict[str, str] = {}

        async def produce() -> list[tuple[str, str]]:
            html = await self.fragment("overview_body.html", o=await self.data.overview())
            return self.changed(last, "overview", html)

        return await self.stream(request, produce)

    # ------------------------------------------------------------------ training job

    async def training(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            job = await self.data.training_job(name)
        except ResourceNotFound as err:
            return await self.not_found(request, err)
        return await self.render("training.html", request, job=job, metrics=await self.data.metric_series(job),
                                 packages=await self.data.packages_of(job),
                                 log=await self.data.log_lines(name, {}), terminal=TERMINAL)

    async def training_metrics(self, request: web.Request) -> web.Response:
        """The chart data as JSON (what the page draws)."""
        try:
            job = await self.data.training_job(request.match_info["name"])
        except ResourceNotFound as err:
            raise web.HTTPNotFound(text=err.message) from err
        return web.json_response(await self.data.metric_series(job))

    async def training_model(self, request: web.Request) -> web.StreamResponse:
        """The job's model artifact, streamed from S3."""
        try:
            job = await self.data.training_job(request.match_info["name"])
        except ResourceNotFound as err:
            raise web.HTTPNotFound(text=err.message) from err
        uri = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts") or ""
        if not uri.startswith("s3://"):
            raise web.HTTPNotFound(text="the job has no model artifact (yet)")
        bucket, _, key = uri[5:].partition("/")
        body = await self.data.services.s3.get_bytes(bucket, key)
        if body is None:
            raise web.HTTPNotFound(text=f"{uri} is not in S3")
        return web.Response(body=body, content_type="application/gzip",
                            headers={"Content-Disposition": 'attachment; filename="model.tar.gz"'})

    async def training_events(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        last: dict[str, str] = {}
        cursor: dict[str, str | None] = {}
        seen = {"log": False}  # the page was rendered with the log so far: skip it once
        ended = {"ticks": 0}

        async def produce() -> list[tuple[str, str]]:
            job = await self.data.training_job(name)
            out = self.changed(last, "status", await self.fragment("training_status.html", job=job))
            out += self.changed(last, "metrics", json_text(await self.data.metric_series(job)))
            lines = await self.data.log_lines(name, cursor)
            if lines and seen["log"]:
                out.append(("log", await self.fragment("log_lines.html", lines=lines)))
            seen["log"] = True
            if job["TrainingJobStatus"] in TERMINAL:
                ended["ticks"] += 1
            return out

        # Two ticks past the end: the last lines and points land just before the status flips.
        return await self.stream(request, produce, done=lambda: ended["ticks"] >= 2)

    async def training_stop(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        try:
            await self.data.call("StopTrainingJob", TrainingJobName=name)
        except ServiceError as err:
            return await self.render("error.html", request, status=400, error=err)
        raise web.HTTPSeeOther(f"/training/{name}")

    # ------------------------------------------------------------------ model registry

    async def registry(self, request: web.Request) -> web.Response:
        groups = (await self.data.call("ListModelPackageGroups", MaxResults=100,
                                       SortBy="CreationTime", SortOrder="Descending"))["ModelPackageGroupSummaryList"]
        return await self.render("registry.html", request, groups=groups)

    async def registry_group(self, request: web.Request) -> web.Response:
        name = request.match_info["group"]
        try:
            group = await self.data.call("DescribeModelPackageGroup", ModelPackageGroupName=name)
        except ResourceNotFound as err:
            return await self.not_found(request, err)
        packages = await self.data.packages(name)
        metric_names = sorted({m for p in packages for m in p["metrics"]})
        return await self.render("registry_group.html", request, group=group, packages=packages,
                                 metric_names=metric_names, statuses=APPROVAL_STATUSES)

    async def registry_approval(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        arn, status = str(form.get("arn", "")), str(form.get("status", ""))
        params: dict[str, Any] = {"ModelPackageArn": arn, "ModelApprovalStatus": status}
        if description := str(form.get("description", "")).strip():
            params["ApprovalDescription"] = description
        try:
            await self.data.call("UpdateModelPackage", **params)
            package = await self.data.call("DescribeModelPackage", ModelPackageName=arn)
        except ServiceError as err:
            return await self.render("error.html", request, status=400, error=err)
        raise web.HTTPSeeOther(f"/registry/{package['ModelPackageGroupName']}")


