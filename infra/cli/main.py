"""The ``headwater`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from services.core.settings import Settings


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if getattr(args, "state_dir", None):
        overrides["state_dir"] = Path(args.state_dir)
    if getattr(args, "aws_endpoint", None):
        overrides["aws_endpoint"] = args.aws_endpoint
    return Settings(**overrides)


def cmd_up(args: argparse.Namespace) -> int:
    """Run a node in the foreground until Ctrl-C."""
    from infra.cli.signals import stop_on_signals
    from infra.node import HeadwaterNode

    settings = _settings(args, emulator_port=args.port, sagemaker_port=args.sagemaker_port,
                         runtime_port=args.runtime_port, lambda_port=args.lambda_port,
                         autoscaling_port=args.autoscaling_port, console_port=args.console_port,
                         runner=args.runner, worker_concurrency=args.workers,
                         ephemeral=True if args.ephemeral else None)

    async def main() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop, "headwater up")
        async with HeadwaterNode(settings) as node:
            path = node.write_endpoints()
            for key, url in node.endpoints.items():
                print(f"  {key:<10} {url}", flush=True)
            print(f"Provisioned: {len(node.changes)} change(s). Endpoints in {path}", flush=True)
            print("Headwater is up. `eval \"$(headwater env)\"` to point clients here; Ctrl-C to stop "
                  "(running jobs are handed back; Ctrl-C twice stops at once).", flush=True)
            await node.serve(stop)
        print("Headwater stopped.", flush=True)

    asyncio.run(main())
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    """Print the running node's console URL and open it in a browser when there is one."""
    import webbrowser

    from infra.cli.endpoints import read_endpoints

    url = read_endpoints(_settings(args).state_dir).get("console")
    if not url:
        print("headwater console: this node serves no console (started without servers?)", file=sys.stderr)
        return 1
    print(url, flush=True)
    if not args.no_browser:
        webbrowser.open(url)  # False, and nothing shown, where no browser is there: the URL is printed
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    """Print ``export`` lines for the running node."""
    from infra.cli.endpoints import env_exports, read_endpoints
    from services.core.access import access_token

    settings = _settings(args)
    for line in env_exports(read_endpoints(settings.state_dir), with_token=access_token(settings) is not None):
        print(line)
    return 0


def cmd_provision(args: argparse.Namespace) -> int:
    """Provision the stack on an AWS endpoint and exit."""
    from handlers.registry import load_handlers
    from infra.provision import provision
    from infra.stack import declare_stack
    from services.aws.session import AwsClients

    settings = _settings(args)
    if settings.aws_endpoint is None:
        print("provision needs --aws-endpoint URL (or 'aws'); `headwater up` provisions the embedded emulator",
              file=sys.stderr)
        return 2

    async def main() -> list[str]:
        async with AwsClients(settings) as clients:
            return await provision(settings, clients, declare_stack(settings, load_handlers()))

    changes = asyncio.run(main())
    for change in changes:
        print(f"  {change}")
    print(f"{len(changes)} change(s)" if changes else "Stack is up to date: no changes.")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    """Print the training jobs as a table."""
    from infra.cli.commands import print_jobs

    return asyncio.run(print_jobs(_settings(args), status=args.status, limit=args.limit))


def cmd_logs(args: argparse.Namespace) -> int:
    """Print (and follow) a job's container log."""
    from infra.cli.commands import print_logs

    if args.function:
        from infra.cli.functions import print_function_logs

        return asyncio.run(print_function_logs(_settings(args), args.function, follow=args.follow))
    if not args.job:
        print("headwater logs: name a training job, or --function <name>", file=sys.stderr)
        return 2

    return asyncio.run(print_logs(_settings(args), args.job, follow=args.follow))


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop a training job."""
    from infra.cli.commands import stop_job

    return asyncio.run(stop_job(_settings(args), args.job))


def cmd_interrupt(args: argparse.Namespace) -> int:
    """Interrupt a running training job (spot-style fault injection)."""
    from infra.cli.interrupt import interrupt_job

    return asyncio.run(interrupt_job(_settings(args), args.job))


def cmd_tuning(args: argparse.Namespace) -> int:
    """Print a tuning job's leaderboard (live until it ends), then its best job."""
    from infra.cli.tuning import print_tuning

    return asyncio.run(print_tuning(_settings(args), args.job, follow=not args.once))


def cmd_pipelines(args: argparse.Namespace) -> int:
    """List pipelines with their latest execution's status."""
    from infra.cli.pipelines import print_pipelines

    return asyncio.run(print_pipelines(_settings(args)))


def cmd_pipeline(args: argparse.Namespace) -> int:
    """``pipeline <name>``: an execution's steps as a DAG (live with --follow); ``pipeline start <name>``."""
    from infra.cli.pipelines import print_pipeline, start_pipeline

    if args.target[0] == "start" and len(args.target) == 2:
        return asyncio.run(start_pipeline(_settings(args), args.target[1], args.parameter or []))
    if len(args.target) != 1 or args.parameter:
        print("usage: headwater pipeline <name> [--execution ARN] [--follow] | "
              "headwater pipeline start <name> [-p Name=Value ...]", file=sys.stderr)
        return 2
    return asyncio.run(print_pipeline(_settings(args), args.target[0], args.execution, follow=args.follow))


def cmd_invoke(args: argparse.Namespace) -> int:
    """Run a handler once on an event file, in this process."""
    from infra.cli.commands import invoke_handler

    event = json.loads(Path(args.event).read_text()) if args.event != "-" else json.load(sys.stdin)
    return asyncio.run(invoke_handler(_settings(args), args.name, event))


def cmd_worker(args: argparse.Namespace) -> int:
    """Run workers against a running node's AWS endpoint."""
    from infra.cli.commands import run_workers

    settings = _settings(args, runner=args.runner, worker_concurrency=args.concurrency)
    return asyncio.run(run_workers(settings))


def cmd_dlq(args: argparse.Namespace) -> int:
    """Show dead-lettered messages and their recorded errors."""
    from infra.cli.commands import print_dead_letters

    return asyncio.run(print_dead_letters(_settings(args), args.handler))


def cmd_models(args: argparse.Namespace) -> int:
    """List a model package group's versions."""
    from infra.cli.commands import print_models

    return asyncio.run(print_models(_settings(args), args.group))


def cmd_approve(args: argparse.Namespace) -> int:
    """Approve (or reject) a model package."""
    from infra.cli.commands import approve_package

    return asyncio.run(approve_package(_settings(args), args.package_arn, args.description, args.reject))


def cmd_monitor(args: argparse.Namespace) -> int:
    """Run a monitoring schedule's execution now (on demand)."""
    from infra.cli.commands import run_monitoring_now

    return asyncio.run(run_monitoring_now(_settings(args), args.schedule))


def cmd_retraining(args: argparse.Namespace) -> int:
    """Declare a retraining policy, or show policies and their runs."""
    from infra.cli import retraining as retraining_cli

    if args.action == "put":
        if args.file is None:
            print("headwater retraining put needs --file policy.json")
            return 2
        return asyncio.run(retraining_cli.put_policy(_settings(args), args.file))
    return asyncio.run(retraining_cli.show(_settings(args), args.endpoint))


def cmd_shadows(args: argparse.Namespace) -> int:
    """Show how often each shadow variant of an endpoint agrees with production."""
    from infra.cli.shadows import print_shadow_agreement

    return print_shadow_agreement(_settings(args), args.endpoint)


def cmd_rules(args: argparse.Namespace) -> int:
    """Show the event rules, their patterns and the handlers they feed."""
    from infra.cli.commands import print_rules

    return asyncio.run(print_rules(_settings(args)))


def cmd_autoscaling(args: argparse.Namespace) -> int:
    """Show scalable targets, their policies and recent scaling activities."""
    from infra.cli.autoscaling import print_autoscaling

    return asyncio.run(print_autoscaling(_settings(args), activities=args.activities))


def cmd_functions(args: argparse.Namespace) -> int:
    """List functions with their triggers, invocations, errors and durations."""
    from infra.cli.functions import print_functions

    return asyncio.run(print_functions(_settings(args)))


def cmd_deploy(args: argparse.Namespace) -> int:
    """Deploy a SAM template to the running node; with --watch, redeploy on code changes."""
    from infra.cli.deploy import parse_overrides, run_deploy

    overrides = parse_overrides(args.parameter_overrides or [])

    async def main() -> int:
        stop = asyncio.Event()
        if args.watch:  # Ctrl-C ends the watch between deploys, not in the middle of one
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        return await run_deploy(_settings(args), Path(args.template), args.stack_name, overrides,
                                watching=args.watch, stop=stop)

    return asyncio.run(main())


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the end-to-end story on the embedded emulator."""
    from infra.demo.story import run_demo

    if not args.verbose:  # the story narrates itself; the services' own INFO lines would bury it
        for name in ("services", "handlers", "infra", "containers"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return asyncio.run(run_demo(rows=args.rows))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = argparse.ArgumentParser(prog="headwater", description="Event-driven ML jobs with the shape of SageMaker.")
    p.add_argument("--state-dir", help="local state directory (default .headwater)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start emulator, control plane, handler runtime and a worker (foreground)")
    up.add_argument("--aws-endpoint", help="use this AWS endpoint (LocalStack URL, or 'aws') instead of the embedded emulator")
    up.add_argument("--port", type=int, help="embedded emulator port (default 4566; 0 = any free port)")
    up.add_argument("--sagemaker-port", type=int)
    up.add_argument("--runtime-port", type=int)
    up.add_argument("--lambda-port", type=int)
    up.add_argument("--autoscaling-port", type=int)
    up.add_argument("--console-port", type=int, help="the web console's port (default 4574)")
    up.add_argument("--runner", choices=["process", "docker"])
    up.add_argument("--workers", type=int, help="concurrent jobs this node's worker runs")
    up.add_argument("--ephemeral", action="store_true",
                    help="the embedded emulator starts empty and forgets everything at stop "
                         "(default: its state is kept under <state dir>/emulator)")
    up.set_defaults(func=cmd_up)

    sub.add_parser("env", help="print export lines for the running node").set_defaults(func=cmd_env)
    console = sub.add_parser("console", help="print the web console's URL and open it in a browser")
    console.add_argument("--no-browser", action="store_true", help="only print the URL")
    console.set_defaults(func=cmd_console)

    pr = sub.add_parser("provision", help="provision the stack on an AWS endpoint (idempotent)")
    pr.add_argument("--aws-endpoint", required=True)
    pr.set_defaults(func=cmd_provision)

    jobs = sub.add_parser("jobs", help="list training jobs")
    jobs.add_argument("--status", choices=["InProgress", "Completed", "Failed", "Stopping", "Stopped"])
    jobs.add_argument("--limit", type=int, default=50)
    jobs.set_defaults(func=cmd_jobs)

    logs = sub.add_parser("logs", help="print a training job's log, or a function's (--function)")
    logs.add_argument("job", nargs="?")
    logs.add_argument("--function", help="a Lambda function's log (/aws/lambda/<name>) instead of a job's")
    logs.add_argument("-f", "--follow", action="store_true",
                      help="keep printing until the job ends (a function's: until Ctrl-C)")
    logs.set_defaults(func=cmd_logs)

    stop = sub.add_parser("stop", help="stop a training job")
    stop.add_argument("job")
    stop.set_defaults(func=cmd_stop)

    interrupt = sub.add_parser("interrupt", help="interrupt a running training job; it resumes from its checkpoint")
    interrupt.add_argument("job")
    interrupt.set_defaults(func=cmd_interrupt)

    tuning = sub.add_parser("tuning", help="a tuning job's live leaderboard, then its best training job")
    tuning.add_argument("job")
    tuning.add_argument("--once", action="store_true", help="print the leaderboard once and exit")
    tuning.set_defaults(func=cmd_tuning)

    sub.add_parser("pipelines", help="pipelines and their latest execution's status").set_defaults(
        func=cmd_pipelines)
    pipeline = sub.add_parser("pipeline", help="an execution's steps as a DAG (<name>), or start one (start <name>)")
    pipeline.add_argument("target", nargs="+", metavar="NAME", help="<name>, or: start <name>")
    pipeline.add_argument("--execution", help="this execution's ARN (default: the latest)")
    pipeline.add_argument("-f", "--follow", action="store_true", help="redraw on every change until it ends")
    pipeline.add_argument("-p", "--parameter", action="append", metavar="Name=Value",
                          help="a PipelineParameters value (start; repeatable)")
    pipeline.set_defaults(func=cmd_pipeline)

    inv = sub.add_parser("invoke", help="run a handler on an event file")
    inv.add_argument("name")
    inv.add_argument("--event", required=True, help="event JSON file, or - for stdin")
    inv.add_argument("--aws-endpoint")
    inv.set_defaults(func=cmd_invoke)

    w = sub.add_parser("worker", help="run workers against the running node's AWS endpoint")
    w.add_argument("--aws-endpoint")
    w.add_argument("--runner", choices=["process", "docker"])
    w.add_argument("--concurrency", type=int)
    w.set_defaults(func=cmd_worker)

    dlq = sub.add_parser("dlq", help="show dead-lettered messages with their errors")
    dlq.add_argument("handler", nargs="?")
    dlq.set_defaults(func=cmd_dlq)

    models = sub.add_parser("models", help="a model package group's versions, metrics, approval and lineage")
    models.add_argument("group")
    models.set_defaults(func=cmd_models)

    approve = sub.add_parser("approve", help="approve a model package version (UpdateModelPackage)")
    approve.add_argument("package_arn")
    approve.add_argument("--description", help="ApprovalDescription")
    approve.add_argument("--reject", action="store_true", help="reject instead of approve")
    approve.set_defaults(func=cmd_approve)

    monitor = sub.add_parser("monitor", help="run a monitoring schedule now, outside its schedule")
    monitor.add_argument("schedule")
    monitor.set_defaults(func=cmd_monitor)

    retraining = sub.add_parser("retraining", help="an endpoint's retraining policy (put) and its runs (show)")
    retraining.add_argument("action", choices=("show", "put"))
    retraining.add_argument("endpoint", nargs="?", help="only this endpoint (show)")
    retraining.add_argument("--file", type=Path, help="the policy as JSON (put)")
    retraining.set_defaults(func=cmd_retraining)

    shadows = sub.add_parser("shadows", help="an endpoint's shadow variants: requests, errors, agreement")
    shadows.add_argument("endpoint")
    shadows.set_defaults(func=cmd_shadows)

    sub.add_parser("rules", help="the event rules: patterns, buses and the handlers they feed").set_defaults(
        func=cmd_rules)

    scaling = sub.add_parser("autoscaling", help="endpoint variants' scalable targets, policies and activities")
    scaling.add_argument("--activities", type=int, default=10, help="how many recent activities to show")
    scaling.set_defaults(func=cmd_autoscaling)

    sub.add_parser("functions", help="Lambda functions: triggers, invocations, errors, p50/p99 duration").set_defaults(
        func=cmd_functions)

    deploy = sub.add_parser("deploy", help="deploy an AWS SAM template (functions, buckets, queues, events)")
    deploy.add_argument("template", help="the template (YAML or JSON)")
    deploy.add_argument("--stack-name", help="default: the template's folder name")
    deploy.add_argument("--parameter-overrides", nargs="*", metavar="KEY=VALUE", help="values of the Parameters")
    deploy.add_argument("--watch", action="store_true", help="redeploy when a CodeUri folder changes (Ctrl-C stops)")
    deploy.set_defaults(func=cmd_deploy)

    demo = sub.add_parser("demo", help="run the end-to-end story on the embedded emulator")
    demo.add_argument("--rows", type=int, default=5000)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``headwater`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore", "aiobotocore", "urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - a CLI prints one clear line, not a traceback
        if args.verbose:
            raise
        print(f"headwater {args.command}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1

