"""A training script that tries the network: a server the test runs on the machine's loopback, and its own.

It prints one ``NETPROBE {...}`` line (and writes it to the model directory): whether the connection to
``--port`` on 127.0.0.1 went through, whether a socket of its own on loopback answers, and which AWS
variables it was given.
"""

import argparse
import json
import os
import socket
from pathlib import Path


def reach(port: int) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(f"hello from {os.environ.get('TRAINING_JOB_NAME', 'a job')}\n".encode())
        return "connected"
    except OSError as err:
        return f"failed: {err}"


def own_loopback() -> bool:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            conn, _ = server.accept()
            conn.close()
    return True


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args, _ = parser.parse_known_args()
    report = {"server": reach(args.port), "own_loopback": own_loopback(),
              "aws": sorted(k for k in os.environ if k.startswith("AWS_"))}
    print("NETPROBE " + json.dumps(report), flush=True)
    Path(os.environ["SM_MODEL_DIR"], "netprobe.json").write_text(json.dumps(report))
