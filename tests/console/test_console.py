"""The web console in a real browser (headless Debian chromium through chromium-driver) against a real node
with real small training jobs: what the pages show is what the APIs return, live, and safely."""

from __future__ import annotations

import io
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.console.screenshots import png_colours
from tests.support import NodeThread, wait_for, wait_for_job

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/headwater-console"
HOSTILE = '<script>window.hostile=1</script><b>bold</b>'
# Many deep trees per round on a few thousand rows: runs until stopped, printing a few lines a second.
SLOW_HPS = {"num_round": "100000", "objective": "reg:squarederror", "max_depth": "10", "eta": "0.01",
            "num_parallel_tree": "20", "tree_method": "exact", "nthread": "1"}


def _csv(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([x @ rng.normal(size=4), x]), delimiter=",", fmt="%.5f")
    return buf.getvalue().encode()


def _request(node: NodeThread, name: str, prefix: str, hps: dict[str, str]) -> dict[str, Any]:
    bucket = node.settings.data_bucket
    channels = [{"ChannelName": c, "ContentType": "text/csv",
                 "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{prefix}/{c}/",
                                                 "S3DataDistributionType": "FullyReplicated"}}}
                for c in ("train", "validation")]
    return {"TrainingJobName": name, "RoleArn": ROLE, "HyperParameters": hps, "InputDataConfig": channels,
            "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": f"s3://{node.settings.artifacts_bucket}/console"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600}}


@pytest.fixture(scope="module")
def sm(node: NodeThread) -> Any:
    s3 = node.client("s3")
    for prefix, rows in (("console/small", 60), ("console/slow", 3000)):
        for seed, channel in enumerate(("train", "validation")):
            s3.put_object(Bucket=node.settings.data_bucket, Key=f"{prefix}/{channel}/part.csv", Body=_csv(rows, seed))
    return node.client("sagemaker")


@pytest.fixture(scope="module")
def completed(node: NodeThread, sm: Any) -> dict[str, Any]:
    """One finished job: one round, so each metric has one point and it is the final value."""
    sm.create_training_job(**_request(node, "console-small", "console/small",
                                      {"num_round": "1", "objective": "reg:squarederror", "max_depth": "2"}))
    return wait_for_job(sm, "console-small")


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromium-driver are missing: `make test` installs them (make chromium)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    b = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    yield b
    b.quit()


def _text(browser: webdriver.Chrome, element_id: str) -> str:
    """An element's text, read in one step: live updates replace elements under a held reference."""
    return str(browser.execute_script(
        "var e = document.getElementById(arguments[0]); return e ? e.innerText : ''", element_id))


def _shot(browser: webdriver.Chrome, out: Path, name: str) -> None:
    png = browser.get_screenshot_as_png()
    (out / f"{name}.png").write_bytes(png)
    assert png_colours(png) > 8, f"the {name} page's screenshot is blank"


def test_training_chart_matches_describe(node: NodeThread, browser: webdriver.Chrome, completed: dict[str, Any],
                                         tmp_path: Path) -> None:
    url = node.endpoints["console"]
    browser.get(f"{url}/training/console-small")
    shown = wait_for(lambda: browser.execute_script("return window.headwaterMetrics"), 30, what="the chart data")
    final = {m["MetricName"]: m["Value"] for m in completed["FinalMetricDataList"]}
    assert {"train:rmse", "validation:rmse"} <= set(final)
    drawn = {n: s for chart in shown["charts"].values() for n, s in chart.items()}
    assert set(drawn) == set(final)
    for name, value in final.items():
        assert drawn[name]["v"] == [pytest.approx(value)]  # one round: one point, the final one
    # train and validation of one metric on one chart, drawn (uPlot's canvas in the chart holder)
    assert set(shown["charts"]["rmse"]) == {"train:rmse", "validation:rmse"}
    assert browser.find_elements(By.CSS_SELECTOR, '.chart[data-metric="rmse"] canvas')
    assert _text(browser, "job-status") == "Completed"
    _shot(browser, tmp_path, "training")
    browser.get(url)
    wait_for(lambda: "console-small" in _text(browser, "overview"), 30, what="the overview")
    _shot(browser, tmp_path, "overview")


def test_status_changes_live(node: NodeThread, browser: webdriver.Chrome, sm: Any) -> None:
    sm.create_training_job(**_request(node, "console-slow", "console/slow", SLOW_HPS))
    browser.get(f"{node.endpoints['console']}/training/console-slow")
    assert _text(browser, "job-status") == "InProgress"
    browser.execute_script("window.sameDocument = true")  # gone if the page reloads
    sm.stop_training_job(TrainingJobName="console-slow")
    wait_for(lambda: _text(browser, "job-status") == "Stopped", 60, what="Stopped on the page")
    assert browser.execute_script("return window.sameDocument") is True


def test_approve_from_the_page(node: NodeThread, browser: webdriver.Chrome, sm: Any, completed: dict[str, Any],
                               tmp_path: Path) -> None:
    sm.create_model_package_group(ModelPackageGroupName="console-models", ModelPackageGroupDescription=HOSTILE)
    arn = sm.create_model_package(
        ModelPackageGroupName="console-models", ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{"Image": XGBOOST_IMAGE,
                                                "ModelDataUrl": completed["ModelArtifacts"]["S3ModelArtifacts"]}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]
    url = node.endpoints["console"]
    browser.get(f"{url}/registry")
    _shot(browser, tmp_path, "registry")
    browser.get(f"{url}/registry/console-models")
    row = browser.find_element(By.ID, "v1")
    assert "console-small" in row.text  # lineage: the job that made it, with its metrics beside it
    row.find_element(By.NAME, "description").send_keys("good enough " + HOSTILE)
    row.find_element(By.CSS_SELECTOR, 'button[value="Approved"]').click()
    wait_for(lambda: "Approved" in _text(browser, "v1"), 30, what="the approval on the page")
    d = sm.describe_model_package(ModelPackageName=arn)
    assert d["ModelApprovalStatus"] == "Approved"
    assert d["ApprovalDescription"] == "good enough " + HOSTILE
    _shot(browser, tmp_path, "registry-group")


def test_user_text_renders_as_text(node: NodeThread, browser: webdriver.Chrome, sm: Any) -> None:
    sm.create_model_package_group(ModelPackageGroupName="console-hostile", ModelPackageGroupDescription=HOSTILE)
    browser.get(f"{node.endpoints['console']}/registry")
    assert HOSTILE in browser.find_element(By.TAG_NAME, "main").text  # shown, tags and all, as text
    assert browser.execute_script("return window.hostile") is None  # and never run
    assert not browser.find_elements(By.CSS_SELECTOR, "main b")


def test_post_without_token_is_refused(node: NodeThread, completed: dict[str, Any], sm: Any) -> None:
    url = node.endpoints["console"]
    page = urllib.request.urlopen(f"{url}/registry")  # a session cookie, as a browser would get
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    for headers in ({}, {"Cookie": cookie}):
        req = urllib.request.Request(f"{url}/training/console-small/stop", data=b"", method="POST", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req)
        assert err.value.code == 403
    forged = urllib.request.Request(f"{url}/registry/approval", data=b"token=forged&arn=x&status=Approved",
                                    method="POST", headers={"Cookie": cookie})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(forged)
    assert err.value.code == 403
