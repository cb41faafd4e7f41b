"""The per-instance LRU of multi-model endpoints, and the rules on Mode and TargetModel."""

from __future__ import annotations

import pytest

from services.core.exceptions import ValidationException
from services.hosting.model_lru import LoadedModels
from services.hosting.models import Model
from services.hosting.target_model import (
    cache_enabled,
    check_target_model,
    container_model_name,
    multi_model_container,
    validate_modes,
)

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _loaded(limit: int, *targets: str) -> LoadedModels:
    lru = LoadedModels(limit)
    for t in targets:
        lru.add(t, f"name-{t}")
    return lru


def test_use_marks_most_recent_and_make_room_evicts_least_recent() -> None:
    lru = _loaded(2, "a", "b")
    assert lru.use("a") == "name-a"
    lru.release("a")
    assert lru.order() == ["b", "a"]
    assert lru.make_room() == [("b", "name-b")]  # one more must fit under 2
    assert lru.order() == ["a"] and "b" not in lru
    assert lru.use("b") is None  # not loaded any more


def test_make_room_evicts_nothing_below_the_limit_and_several_above_it() -> None:
    lru = _loaded(3, "a", "b")
    assert lru.make_room() == []
    lru.add("c", "name-c")
    assert [t for t, _ in lru.make_room(extra=2)] == ["a", "b"]  # two loads in progress need two slots
    assert lru.order() == ["c"]


def test_busy_models_are_never_evicted() -> None:
    lru = _loaded(2, "a", "b")
    assert lru.use("a") == "name-a"  # in flight
    lru.use("b")
    lru.release("b")
    lru.add("c", "name-c")  # over the limit now: a busy, b and c idle
    assert lru.make_room() == [("b", "name-b"), ("c", "name-c")]
    assert lru.order() == ["a"]
    assert lru.make_room() == []  # 1 + 1 fits
    lru.add("d", "name-d")
    assert lru.evict_one() == ("d", "name-d")  # a is still busy
    assert lru.evict_one() is None
    lru.release("a")
    assert lru.evict_one() == ("a", "name-a") and len(lru) == 0


def test_every_model_busy_lets_the_set_exceed_the_limit() -> None:
    lru = _loaded(1, "a")
    lru.use("a")
    assert lru.make_room() == []
    lru.add("b", "name-b")
    assert lru.order() == ["a", "b"]


def test_discard_and_a_bad_limit() -> None:
    lru = _loaded(2, "a")
    assert lru.discard("a") == "name-a" and lru.discard("a") is None
    with pytest.raises(ValueError):
        LoadedModels(0)


def _model(**container: object) -> Model:
    return Model.model_validate({"ModelName": "m", "PrimaryContainer": {"Image": IMAGE, **container}})


def test_modes_are_validated_as_create_model_does() -> None:
    mme = _model(Mode="MultiModel", ModelDataUrl="s3://b/models/")
    validate_modes(mme)
    assert multi_model_container(mme) is not None and cache_enabled(multi_model_container(mme))  # type: ignore[arg-type]
    assert multi_model_container(_model(ModelDataUrl="s3://b/m.tar.gz")) is None
    off = _model(Mode="MultiModel", ModelDataUrl="s3://b/p/", MultiModelConfig={"ModelCacheSetting": "Disabled"})
    assert not cache_enabled(off.primary_container)  # type: ignore[arg-type]
    for bad, words in [(_model(Mode="Multi"), "enum value set: [SingleModel, MultiModel]"),
                       (_model(Mode="MultiModel"), "needs ModelDataUrl"),
                       (_model(Mode="MultiModel", ModelDataUrl="s3://b/p/",
                               MultiModelConfig={"ModelCacheSetting": "Sometimes"}), "[Enabled, Disabled]")]:
        with pytest.raises(ValidationException, match=words.replace("[", r"\[").replace("]", r"\]")):
            validate_modes(bad)
    pipeline = Model.model_validate({"ModelName": "p", "Containers": [
        {"Image": IMAGE, "Mode": "MultiModel", "ModelDataUrl": "s3://b/p/"}, {"Image": IMAGE}]})
    with pytest.raises(ValidationException, match="more than one container"):
        validate_modes(pipeline)


def test_target_model_must_match_the_kind_of_endpoint() -> None:
    mme = _model(Mode="MultiModel", ModelDataUrl="s3://b/models/")
    single = _model(ModelDataUrl="s3://b/m.tar.gz")
    assert check_target_model("ep", mme, "a.tar.gz") is None
    assert check_target_model("ep", single, None) is None
    message, code = check_target_model("ep", single, "a.tar.gz")  # type: ignore[misc]
    assert code == "TARGET_MODEL_HEADER_NOT_SUPPORTED" and "ep is not a multi-model endpoint" in message
    message, _ = check_target_model("ep", mme, None)  # type: ignore[misc]
    assert message.endswith("is missing a target model header.")
    assert check_target_model("ep", mme, "x" * 1025) is not None
    assert check_target_model("ep", mme, " leading-space") is not None
    assert check_target_model("ep", mme, "a\x00b") is not None


def test_container_names_are_opaque_stable_and_path_safe() -> None:
    name = container_model_name("../../etc/passwd")
    assert name == container_model_name("../../etc/passwd") != container_model_name("a.tar.gz")
    assert name.isalnum() and len(name) == 32
