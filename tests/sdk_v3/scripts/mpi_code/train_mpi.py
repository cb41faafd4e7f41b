"""A user's mpi4py script for v3's MPI driver: ``mpirun`` on algo-1 starts one rank per host (over SSH on the
other hosts), each rank reads its own host's shard, MPI sums across the ranks, and torch.distributed is
initialised from the MPI environment (rank and world size from MPI, the master where v3's drivers say it is).
"""

import json
import os
import socket
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, world = comm.Get_rank(), comm.Get_size()
host = os.environ["SM_CURRENT_HOST"]
files = sorted(Path(os.environ["SM_CHANNEL_TRAIN"]).glob("*.csv"))
rows = sum(len(np.loadtxt(f, delimiter=",", ndmin=2)) for f in files)
total = comm.allreduce(rows, op=MPI.SUM)
hosts = comm.allgather(f"{host}/{socket.gethostname()}")

dist.init_process_group("gloo", init_method=f"tcp://{os.environ['SM_MASTER_ADDR']}:{os.environ['SM_MASTER_PORT']}",
                        rank=rank, world_size=world)
summed = torch.tensor([float(rows)])
dist.all_reduce(summed)
dist.destroy_process_group()
print(f"rank {rank} of {world} on {host}: {rows} rows, {total} in all", flush=True)
if rank == 0:
    result = {"world": world, "hosts": hosts, "mpi_total": total, "torch_total": summed.item(),
              "library": MPI.Get_library_version().split(",")[0]}
    (Path(os.environ["SM_MODEL_DIR"]) / "result.json").write_text(json.dumps(result))
