"""IP Insights' encoding, training and serving hooks, in-process.

Generated users each draw their addresses from a home network; after
training, held-out (user, address) pairs from the same habits must outscore
the negatives the algorithm generates, and a user's own network must
outscore another user's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from containers.common.environment import ChannelConfig, Environment
from containers.common.errors import CustomerError
from containers.common.serving import BadInput
from containers.ipinsights import algorithm, encoding, serve
from containers.ipinsights.data import read_pairs
from containers.ipinsights.hyperparameters import parse_hyperparameters

NETS = np.random.default_rng(42).integers(1, 223, size=(60, 2))


def habits(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` (user, address) pairs: each user stays in its own /16."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, len(NETS), n)
    return [f"user{u}" for u in users], [f"{NETS[u, 0]}.{NETS[u, 1]}.{rng.integers(0, 4)}.{rng.integers(1, 255)}"
                                         for u in users]


@pytest.fixture(scope="module")
def trained() -> tuple[algorithm.IPInsightsNet, object]:
    torch.set_num_threads(1)
    cfg = parse_hyperparameters({"num_entity_vectors": "200", "vector_dim": "16", "epochs": "4",
                                 "mini_batch_size": "200", "learning_rate": "0.01"})
    users, ips = habits(4000, 0)
    net = algorithm.fit(encoding.entity_buckets(users, 200), encoding.ip_array(map(encoding.parse_ip, ips)), cfg)
    return net, cfg


def test_addresses_encode_v4_as_mapped_v6_and_reject_garbage() -> None:
    assert encoding.parse_ip("1.2.3.4") == bytes(10) + b"\xff\xff\x01\x02\x03\x04"
    assert encoding.parse_ip(" 2001:db8::1 ")[:4] == b"\x20\x01\x0d\xb8"
    for bad in ("300.1.1.1", "1.2.3", "user", ""):
        assert encoding.parse_ip(bad) is None
    ips = encoding.ip_array([encoding.parse_ip("10.0.0.1"), encoding.parse_ip("10.0.0.2"), encoding.parse_ip("::1")])
    assert encoding.is_v4(ips).tolist() == [True, True, False]
    prefixes = encoding.prefix_buckets(ips, 1 << 20)
    assert (prefixes[0, :15] == prefixes[1, :15]).all() and prefixes[0, 15] != prefixes[1, 15]


def test_entity_hashing_is_stable_and_in_range() -> None:
    a = encoding.entity_buckets(["alice", "bob", "alice"], 1000)
    assert a[0] == a[2] and (0 <= a).all() and (a < 1000).all()
    assert encoding.entity_buckets(["alice"], 1000)[0] == a[0]


def test_trained_model_tells_habits_from_negatives(trained: tuple) -> None:
    net, cfg = trained
    users, ips = habits(600, 7)
    ents, addrs = encoding.entity_buckets(users, 200), encoding.ip_array(map(encoding.parse_ip, ips))
    positive, _, _ = algorithm.embed(net, ents, addrs)
    neg_e, neg_ip = algorithm.negatives(ents, addrs, cfg, np.random.default_rng(1))
    negative, _, _ = algorithm.embed(net, neg_e, neg_ip)
    assert algorithm.auc(positive, negative) > 0.9
    # user0 at home versus user0 in user1's network
    home, away = serve.predict_fn([["user0", f"{NETS[0, 0]}.{NETS[0, 1]}.2.9"],
                                   ["user0", f"{NETS[1, 0]}.{NETS[1, 1]}.2.9"]], net)["dot_product"]
    assert home > away


def test_auc_matches_its_definition() -> None:
    assert algorithm.auc(np.array([3.0, 2.0]), np.array([1.0, 0.0])) == 1.0
    assert algorithm.auc(np.array([1.0]), np.array([1.0])) == 0.5
    assert algorithm.auc(np.array([0.0, 2.0]), np.array([1.0])) == 0.5


def test_serve_hooks_speak_sagemakers_shapes(trained: tuple, tmp_path: Path) -> None:
    net, _ = trained
    torch.save({"shape": {"num_entity_vectors": 200, "vector_dim": 16, "prefix_buckets": net.prefix_buckets,
                          "layers": 1}, "state": net.state_dict()}, tmp_path / "model_algo-1")
    model = serve.model_fn(str(tmp_path))
    body = json.dumps({"instances": [{"data": {"features": {"values": ["user1", "10.0.0.1"]}}},
                                     {"features": ["user2", "2001:db8::2"]}]}).encode()
    pairs = serve.input_fn(body, serve.JSON)
    assert pairs == serve.input_fn(b"user1, 10.0.0.1\nuser2,2001:db8::2\n", serve.CSV)
    assert pairs == serve.input_fn(b'{"features": ["user1", "10.0.0.1"]}\n["user2", "2001:db8::2"]\n', serve.JSONLINES)
    text, media = serve.output_fn(serve.predict_fn(pairs, model), "application/json; verbose=True")
    doc = json.loads(text)
    assert media == serve.JSON and len(doc["predictions"]) == 2
    first = doc["predictions"][0]
    assert len(first["entity_embedding"]) == len(first["ip_embedding"]) == 16
    assert first["dot_product"] == pytest.approx(np.dot(first["entity_embedding"], first["ip_embedding"]), rel=1e-4)
    plain, _ = serve.output_fn(serve.predict_fn(pairs, model), serve.JSON)
    assert set(json.loads(plain)["predictions"][0]) == {"dot_product"}
    for bad, content_type in ((b"user1, 300.1.1.1\n", serve.CSV), (b"user1\n", serve.CSV),
                              (b'{"instances": [["user1"]]}', serve.JSON), (b"{", serve.JSONLINES)):
        with pytest.raises(BadInput):
            serve.predict_fn(serve.input_fn(bad, content_type), model)


def test_training_reader_names_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    data = tmp_path / "input" / "data" / "train"
    data.mkdir(parents=True)
    (data / "a.csv").write_text("alice, 10.0.0.1\nbob, 2001:db8::1\n")
    (data / "b.csv").write_text("carol, 10.0.0.2\ncarol, 10.0.0.999\n")
    env = Environment({}, {"train": ChannelConfig("train", "text/csv")}, "algo-1", ["algo-1"], 1, tmp_path)
    with pytest.raises(CustomerError, match=r"train/b\.csv at line 2: '10\.0\.0\.999' \(column 2\) is not an IPv4"):
        read_pairs(env, "train")
    (data / "b.csv").write_text("carol, 10.0.0.2\n")
    pairs = read_pairs(env, "train")
    assert pairs.entities == ["alice", "bob", "carol"] and pairs.ips.shape == (3, 16)
    env = Environment({}, {"train": ChannelConfig("train", "application/x-recordio-protobuf")}, "algo-1",
                      ["algo-1"], 1, tmp_path)
    with pytest.raises(CustomerError, match="content type"):
        read_pairs(env, "train")


def test_hyperparameters_as_sagemaker_documents_them() -> None:
    cfg = parse_hyperparameters({"num_entity_vectors": "10", "vector_dim": "8"})
    assert (cfg.epochs, cfg.mini_batch_size, cfg.learning_rate, cfg.num_ip_encoder_layers) == (10, 10000, 0.001, 1)
    for bad, named in (({"num_entity_vectors": "10", "vector_dim": "2"}, "vector_dim"),
                       ({"num_entity_vectors": "10", "vector_dim": "8", "batch_size": "5"}, "batch_size"),
                       ({"vector_dim": "8"}, "num_entity_vectors")):
        with pytest.raises(CustomerError, match=named):
            parse_hyperparameters(bad)
