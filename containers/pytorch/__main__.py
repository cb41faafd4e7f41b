"""PyTorch framework container: ``python -m containers.pytorch {train|serve}``.

Script mode as SageMaker's PyTorch training toolkit runs it. On a multi-host
job the toolkit exports ``MASTER_ADDR`` / ``MASTER_PORT`` (the master host)
so a script's ``torch.distributed.init_process_group(init_method="env://")``
finds its peers, plus ``WORLD_SIZE`` and ``RANK`` (one process per host).
"""

from __future__ import annotations

import sys

from containers.common.cluster import master
from containers.common.environment import Environment
from containers.common.script_mode import run_user_script
from containers.common.trainer import run

USAGE = "usage: python -m containers.pytorch {train|serve}"


def distributed_env(env: Environment, child_env: dict[str, str]) -> None:
    """The variables the PyTorch toolkit sets for ``torch.distributed``."""
    address, port = master(env.hosts)
    child_env.setdefault("MASTER_ADDR", address)
    child_env.setdefault("MASTER_PORT", str(port))
    hosts = sorted(env.hosts)
    child_env.setdefault("WORLD_SIZE", str(len(hosts)))
    child_env.setdefault("RANK", str(hosts.index(env.current_host)))
    # Gloo picks an interface by the host name otherwise, which need not be loopback here.
    if address.startswith("127."):
        child_env.setdefault("GLOO_SOCKET_IFNAME", "lo")


def train(env: Environment) -> None:
    """Run the user's script with the distributed settings in place."""
    run_user_script(env, prepare=distributed_env)


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the command SageMaker passes to the container."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["train"]:
        run(train)
    if args[:1] == ["serve"]:
        # Imported here so that training does not pay for the serving modules.
        from containers.pytorch.serve import main as serve

        return serve()
    print(USAGE, file=sys.stderr, flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
