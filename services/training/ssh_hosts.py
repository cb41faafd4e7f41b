"""The hosts of an MPI training job: each a machine of its own with an SSH server the others log in to.

The SageMaker Python SDK v3's MPI driver (``distributed=MPI(...)``: ``sm_drivers/distributed_drivers/
mpi_driver.py``) does on every host what an MPI cluster needs: it appends its environment to
``/etc/environment``, starts ``/usr/sbin/sshd -D``, checks its peers with paramiko on port 22 by their names
(``algo-N``), touches files on them with ``ssh <host> touch /tmp/...``, and on ``algo-1`` runs ``mpirun --host
algo-1,algo-2 ... python -m mpi4py <entry>``, which starts the other hosts' ranks over SSH.

Under the process runner the hosts share one machine, so each gets (:class:`HostView`): its own loopback
address (``algo-N`` resolves to it; its SSH server listens there), its host name, its own ``/tmp``, a private
``/etc/environment`` and SSH configuration (``<host>/.host``: the job's key pair, no host-key prompts for the
job's names), a ``HOME`` whose ``.ssh`` holds the job's key (paramiko looks there), and the node's root
capabilities to bind port 22. Nothing of the machine's (its ``/etc``, root's ``~/.ssh``) is written.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from services.core.exceptions import PlatformError
from services.runners.host_view import HostView

SSH_PORT = 22  # v3's driver checks its peers on port 22, hardcoded
MPI_DRIVER = "distributed_drivers/mpi_driver.py"
HOST_DIR = ".host"  # in each host's tree (its /opt/ml): its private /etc files, HOME and /tmp
_TRAIN_SCRIPT = Path("input/data/sm_drivers/sm_train.sh")
_MACHINE_SSH_CONFIG = Path("/etc/ssh/ssh_config")
# The machine's SSH server needs this directory (privilege separation); the package makes it at boot.
_PRIVSEP_DIR = Path("/run/sshd")

_SSHD_CONFIG = """\
# {host}'s SSH server: its own address, the job's keys. Written by Headwater for this job.
ListenAddress {address}
Port {port}
HostKey {etc}/ssh_host_ed25519_key
AuthorizedKeysFile {etc}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
# The job's tree may sit under a world-writable directory (/tmp), which strict modes refuse.
StrictModes no
# PAM's pam_env gives a session this host's /etc/environment, as on SageMaker.
UsePAM yes
PrintMotd no
PidFile none
"""

_SSH_CONFIG = """\
# The job's hosts: the job's key, no host-key prompts (their keys are the job's). Written by Headwater.
Host {names}
  IdentityFile {home}/.ssh/id_ed25519
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  GlobalKnownHostsFile /dev/null
  LogLevel ERROR

"""


@dataclass(frozen=True)
class SshHost:
    """What one host's run needs: its view of itself and the variables that go with it."""

    view: HostView
    env: dict[str, str]


def runs_mpi_driver(root: Path) -> bool:
    """Whether the job whose host tree is ``root`` runs v3's MPI driver (its ``sm_drivers`` channel says so)."""
    try:
        return MPI_DRIVER in (root / _TRAIN_SCRIPT).read_text(errors="replace")
    except OSError:
        return False


async def _keygen(path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "headwater-job", "-f", str(path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise PlatformError(f"ssh-keygen could not make the job's SSH key: {out.decode(errors='replace').strip()}")


def _write(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)  # private keys 0600: ssh and sshd refuse readable ones


async def write_ssh_hosts(roots: dict[str, Path], addresses: dict[str, str],
                          base: str = "/opt/ml") -> dict[str, SshHost]:
    """Each host's ``.host`` directory (its SSH server's and client's configuration, the job's key pair, an
    empty ``/etc/environment``, its ``HOME`` and ``/tmp``) and its view; ``addresses``: host -> its own
    loopback address. Paths in the configuration are as the host sees them (its tree at ``base``)."""
    first = next(iter(roots.values()))
    keys = first.parent / f".ssh-{first.parent.name}"  # made once per job, beside the host trees
    if keys.exists():
        shutil.rmtree(keys)
    keys.mkdir(mode=0o700)
    await asyncio.gather(_keygen(keys / "host_key"), _keygen(keys / "client_key"))
    host_key, client_key = (keys / "host_key").read_bytes(), (keys / "client_key").read_bytes()
    public = (keys / "client_key.pub").read_bytes()
    shutil.rmtree(keys)
    try:
        machine = _MACHINE_SSH_CONFIG.read_text()  # after the job's hosts: the machine's defaults for the rest
    except OSError:
        machine = ""
    _PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    out: dict[str, SshHost] = {}
    for host, root in roots.items():
        own = root / HOST_DIR
        if own.exists():  # a restarted attempt's host gets a clean one
            shutil.rmtree(own)
        etc, home = f"{base}/{HOST_DIR}/etc", f"{base}/{HOST_DIR}/home"
        _write(own / "etc/sshd_config", _SSHD_CONFIG.format(host=host, address=addresses[host], port=SSH_PORT,
                                                             etc=etc))
        _write(own / "etc/ssh_config", _SSH_CONFIG.format(names=" ".join(roots), home=home) + machine)
        _write(own / "etc/environment", "")
        _write(own / "etc/ssh_host_ed25519_key", host_key, 0o600)
        _write(own / "etc/authorized_keys", public)
        _write(own / "home/.ssh/id_ed25519", client_key, 0o600)
        (own / "tmp").mkdir()
        view = HostView(hostname=host, etc=(("ssh/sshd_config", own / "etc/sshd_config"),
                                            ("ssh/ssh_config", own / "etc/ssh_config"),
                                            ("environment", own / "etc/environment")),
                        tmp=own / "tmp", root_capabilities=True)
        out[host] = SshHost(view=view, env={"HOME": home})
    return out
