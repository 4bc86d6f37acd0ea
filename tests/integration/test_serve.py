"""dllab-serve (images/runtime/serve.py) in the runtime image: real TensorFlow, real HTTP,
requests and answers written from TensorFlow Serving's REST API documentation.

One container for the module: it builds the models (one Python process, so TensorFlow is
imported once for all of them), then serves two of them:

``demo`` (port 8501) versions 1 and 2, labels stable=1 and canary=2, whose signatures are
    ``serving_default``  x float [-1] -> y = x / 2 + 2 (version 1) or + 3 (version 2)
    ``multi``            a float [-1, 2], b int64 [-1] -> total = sum(a) + b, twice = 2 b
    ``strings``          text string [-1] -> length, upper, echo_bytes (written as b64)
    ``fixed``            v float [3] (no batch dimension) -> doubled
    ``slow``             seconds double [] -> elapsed, after spinning that long
    ``checked``          x float [-1] -> root = sqrt(x); fails (in TensorFlow) when x < 0
``digits`` (port 8502) examples/digits_export.py, one version, with --batch-timeout-ms 60000:
    a request waits that long for company only while the model is busy, never when idle.

The last test stops that container: it checks the SIGTERM drain.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.docker

RUNTIME_IMAGE = os.environ.get("DLLAB_TEST_RUNTIME_IMAGE", "dllab/runtime:tf-cpu")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MAX_BODY = 100_000

BUILD_MODELS = r'''
import json, sys
from pathlib import Path

import tensorflow as tf

sys.path.insert(0, "/examples")
import digits_export

root = Path(sys.argv[1])


class Demo(tf.Module):
    def __init__(self, offset):
        super().__init__()
        self.offset = tf.Variable(offset)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def half_plus(self, x):
        return {"y": 0.5 * x + self.offset}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32),
                                  tf.TensorSpec([None], tf.int64)])
    def multi(self, a, b):
        return {"total": tf.reduce_sum(a, axis=1) + tf.cast(b, tf.float32), "twice": 2 * b}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def strings(self, text):
        return {"length": tf.strings.length(text), "upper": tf.strings.upper(text),
                "echo_bytes": text}

    @tf.function(input_signature=[tf.TensorSpec([3], tf.float32)])
    def fixed(self, v):
        return {"doubled": 2.0 * v}

    @tf.function(input_signature=[tf.TensorSpec([], tf.float64)])
    def slow(self, seconds):
        start = tf.timestamp()
        (elapsed,) = tf.while_loop(lambda t: t < seconds, lambda t: (tf.timestamp() - start,),
                                   (tf.constant(0.0, tf.float64),))
        return {"elapsed": elapsed}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def checked(self, x):
        with tf.control_dependencies([tf.debugging.assert_non_negative(x)]):
            return {"root": tf.sqrt(x)}


for version, offset in ((1, 2.0), (2, 3.0)):
    demo = Demo(offset)
    tf.saved_model.save(demo, str(root / "demo" / str(version)), signatures={
        "serving_default": demo.half_plus, "multi": demo.multi, "strings": demo.strings,
        "fixed": demo.fixed, "slow": demo.slow, "checked": demo.checked})
print("digits: accuracy", digits_export.export(root / "digits", version=1, epochs=10))
_, pixels, _, digits = digits_export.data()
(root / "digits-test.json").write_text(
    json.dumps({"pixels": pixels[:64].tolist(), "digits": digits[:64].tolist()}))
'''

START = f"""set -e
python -c "$BUILD_MODELS" /tmp/models
dllab-serve --model-name digits --model-base-path /tmp/models/digits --port 8502 \
    --batch-timeout-ms 60000 &
exec dllab-serve --model-name demo --model-base-path /tmp/models/demo \
    --label stable=1 --label canary=2 --max-body-bytes {MAX_BODY}
"""


@dataclass
class Served:
    container: Any
    demo: str  # http://127.0.0.1:PORT/v1/models/demo
    digits: str
    http: httpx.Client

    def post(self, url: str, body: Any, http: httpx.Client | None = None) -> httpx.Response:
        return (http or self.http).post(
            url, content=body if isinstance(body, bytes) else json.dumps(body))

    def predict(self, url: str, body: Any, http: httpx.Client | None = None) -> Any:
        answer = self.post(f"{url}:predict", body, http)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def metrics(self, base: str) -> str:
        answer = self.http.get(base.split("/v1/")[0] + "/metrics")
        assert answer.status_code == 200
        return answer.text


@pytest.fixture(scope="module")
def served(docker_client: Any) -> Iterator[Served]:
    try:
        docker_client.images.get(RUNTIME_IMAGE)
    except Exception as exc:  # built by `make images`, which CI runs
        pytest.fail(f"{RUNTIME_IMAGE} is missing ({exc}): build it with `make images`")
    container = docker_client.containers.run(
        RUNTIME_IMAGE, ["bash", "-c", START], detach=True, init=True,
        name=f"dllab-test-serve-{os.getpid()}", environment={"BUILD_MODELS": BUILD_MODELS},
        volumes={str(EXAMPLES): {"bind": "/examples", "mode": "ro"}},
        ports={"8501/tcp": ("127.0.0.1", None), "8502/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        bases = [f"http://127.0.0.1:{container.ports[f'{port}/tcp'][0]['HostPort']}"
                 for port in (8501, 8502)]
        with httpx.Client(timeout=30) as http:
            wait_serving(container, http, bases)
            yield Served(container, f"{bases[0]}/v1/models/demo",
                         f"{bases[1]}/v1/models/digits", http)
    finally:
        container.remove(force=True)


def wait_serving(container: Any, http: httpx.Client, bases: list[str]) -> None:
    deadline = time.monotonic() + 120
    for base in bases:
        while True:
            container.reload()
            if container.status == "exited" or time.monotonic() > deadline:
                pytest.fail(f"dllab-serve did not start:\n{container.logs().decode()}")
            try:
                if http.get(f"{base}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)


def concurrently(call: Callable[[httpx.Client, Any], Any], items: list[Any]) -> list[Any]:
    """``call(http, item)`` on every item, all started at the same moment from their own
    threads, each with its own client. One client shared by 64 threads can close a pooled
    connection that another thread has just been given (httpcore 1.0.9, encode/httpcore#1110):
    that request fails with EBADF or, once its answer is awaited, hangs for the 30 s timeout."""
    start = threading.Barrier(len(items))

    def run(item: Any) -> Any:
        with httpx.Client(timeout=30) as http:
            start.wait()
            return call(http, item)

    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(run, items))


def sample(metrics: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.MULTILINE)
    assert match, f"{name} not in\n{metrics}"
    return float(match.group(1))


def status_of(version: str) -> dict[str, Any]:
    return {"version": version, "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}


# --- status and metadata -----------------------------------------------------------------

def test_model_status_lists_every_version_newest_first(served: Served) -> None:
    answer = served.http.get(served.demo)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"model_version_status": [status_of("2"), status_of("1")]}


@pytest.mark.parametrize(("suffix", "version"), [
    ("/versions/1", "1"), ("/versions/2", "2"), ("/labels/stable", "1"), ("/labels/canary", "2"),
])
def test_version_and_label_status(served: Served, suffix: str, version: str) -> None:
    answer = served.http.get(served.demo + suffix)
    assert answer.status_code == 200
    assert answer.json() == {"model_version_status": [status_of(version)]}


def test_metadata_has_tf_serving_signature_defs(served: Served) -> None:
    answer = served.http.get(f"{served.demo}/versions/1/metadata").json()
    assert answer["model_spec"] == {"name": "demo", "signature_name": "", "version": "1"}
    signatures = answer["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "multi", "strings", "fixed", "slow"} <= signatures.keys()
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"] == {"x": {
        "dtype": "DT_FLOAT", "name": "serving_default_x:0",
        "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}}}
    assert default["outputs"]["y"]["dtype"] == "DT_FLOAT"
    assert signatures["multi"]["inputs"]["b"]["dtype"] == "DT_INT64"
    assert signatures["fixed"]["inputs"]["v"]["tensor_shape"]["dim"] == [{"size": "3",
                                                                         "name": ""}]
    digits = served.http.get(f"{served.digits}/metadata").json()
    assert digits["model_spec"] == {"name": "digits", "signature_name": "", "version": "1"}
    pixels = digits["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert pixels["pixels"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""},
                                                       {"size": "64", "name": ""}]


# --- predict -----------------------------------------------------------------------------

def test_row_and_columnar_formats(served: Served) -> None:
    assert served.predict(served.demo, {"instances": [1.0, 2.0, 5.0]}) == {
        "predictions": [3.5, 4.0, 5.5]}
    assert served.predict(served.demo, {"inputs": [1.0, 2.0, 5.0]}) == {
        "outputs": [3.5, 4.0, 5.5]}
    assert served.predict(served.demo, {"signature_name": "serving_default",
                                        "instances": [0.2]}) == {"predictions": [3.1]}


@pytest.mark.parametrize(("suffix", "answers"), [
    ("", [3.5, 4.0]), ("/versions/1", [2.5, 3.0]), ("/versions/2", [3.5, 4.0]),
    ("/labels/stable", [2.5, 3.0]), ("/labels/canary", [3.5, 4.0]),
])
def test_versions_and_labels_answer_with_their_own_model(served: Served, suffix: str,
                                                         answers: list[float]) -> None:
    answer = served.predict(served.demo + suffix, {"instances": [1.0, 2.0]})
    assert answer == {"predictions": answers}


def test_several_named_inputs_and_outputs(served: Served) -> None:
    rows = served.predict(served.demo, {"signature_name": "multi", "instances": [
        {"a": [1.0, 2.0], "b": 3}, {"a": [0.5, 0.25], "b": -1}]})
    assert rows == {"predictions": [{"total": 6.0, "twice": 6}, {"total": -0.25, "twice": -2}]}
    columns = served.predict(served.demo, {"signature_name": "multi", "inputs": {
        "a": [[1.0, 2.0], [0.5, 0.25]], "b": [3, -1]}})
    assert columns == {"outputs": {"total": [6.0, -0.25], "twice": [6, -2]}}


def test_strings_and_b64(served: Served) -> None:
    binary = bytes([0, 255, 10])
    answer = served.predict(served.demo, {"signature_name": "strings", "instances": [
        "abc", {"b64": base64.b64encode(binary).decode()}]})
    first, second = answer["predictions"]
    assert first == {"length": 3, "upper": "ABC",
                     "echo_bytes": {"b64": base64.b64encode(b"abc").decode()}}
    assert second["length"] == 3
    assert base64.b64decode(second["echo_bytes"]["b64"]) == binary  # *_bytes: written as b64


def test_a_signature_without_batch_dimension(served: Served) -> None:
    assert served.predict(served.demo, {"signature_name": "fixed", "inputs": [1, 2, 3]}) == {
        "outputs": [2.0, 4.0, 6.0]}


def test_digits_are_recognised(served: Served) -> None:
    test = json.loads(served.container.exec_run(["cat", "/tmp/models/digits-test.json"]).output)
    answer = served.predict(served.digits, {"instances": test["pixels"]})["predictions"]
    assert len(answer) == len(test["digits"])
    for row in answer:
        assert row["digit"] == max(range(10), key=row["probabilities"].__getitem__)
        assert sum(row["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    right = sum(row["digit"] == want for row, want in zip(answer, test["digits"], strict=True))
    assert right >= 0.85 * len(answer)


# --- errors ------------------------------------------------------------------------------

ERRORS = [  # (URL suffix, body, status, words the message must hold)
    (":predict", {"instances": ["a"]}, 400, ["'x'", "String", "float"]),
    (":predict", {"instances": [[1.0, 2.0]]}, 400, ["'x'", "[1,2]", "[-1]"]),
    (":predict", {"inputs": {"a": [[1.0]], "b": [1]}, "signature_name": "multi"}, 400,
     ["'a'", "[1,1]", "[-1,2]"]),
    (":predict", {"inputs": {"a": [[1.0, 2.0]], "b": [0.5]}, "signature_name": "multi"}, 400,
     ["'b'", "int64"]),
    (":predict", {"signature_name": "multi", "inputs": {"a": [[1.0, 2.0]]}}, 400,
     ["Missing named input: b"]),
    (":predict", {"signature_name": "multi", "instances": [1.0]}, 400, ["list of objects"]),
    (":predict", {"instances": [1.0], "inputs": [1.0]}, 400, ["only one of"]),
    (":predict", {"signature_name": "nope"}, 400, ['"nope" not found']),
    (":predict", {"instances": []}, 400, ["No values"]),
    (":predict", {"signature_name": "checked", "instances": [-1.0]}, 400, ["x >= 0"]),
    (":predict", {}, 400, ["Missing 'inputs' or 'instances' key"]),
    (":predict", b"{not json", 400, ["JSON Parse error"]),
    (":predict", b"", 400, ["The document is empty"]),
    (":classify", {"examples": [{"x": 1.0}]}, 501, ["not supported"]),
    (":regress", {"examples": [{"x": 1.0}]}, 501, ["not supported"]),
    ("/versions/9:predict", {"instances": [1.0]}, 404, ["Servable not found", "9"]),
    ("/labels/nope:predict", {"instances": [1.0]}, 400, ["nope"]),
    ("/versions/9", None, 404, ["Could not find version 9"]),
    ("/labels/nope", None, 400, ["nope"]),
    ("/versions/9/metadata", None, 404, ["Servable not found"]),
]


@pytest.mark.parametrize(("suffix", "body", "status", "words"), ERRORS)
def test_errors_are_tf_serving_json(served: Served, suffix: str, body: Any, status: int,
                                    words: list[str]) -> None:
    url = served.demo + suffix
    answer = served.http.get(url) if body is None else served.post(url, body)
    assert answer.status_code == status, answer.text
    assert list(answer.json()) == ["error"]
    for word in words:
        assert word in answer.json()["error"]


def test_unknown_model_and_wrong_method(served: Served) -> None:
    other = served.demo.replace("/demo", "/other")
    for answer in (served.post(f"{other}:predict", {"instances": [1.0]}),
                   served.http.get(other)):
        assert answer.status_code == 404
        assert "other" in answer.json()["error"]
    for answer in (served.http.get(f"{served.demo}:predict"),
                   served.post(served.demo, {"instances": [1.0]})):
        assert answer.status_code == 405
        assert "error" in answer.json()


def test_bodies_over_the_limit_are_refused(served: Served) -> None:
    body = json.dumps({"instances": [1.0] * (MAX_BODY // 4)}).encode()
    announced = served.post(f"{served.demo}:predict", body)  # Content-Length: refused at once
    assert announced.status_code == 413
    assert "error" in announced.json()
    chunked = served.http.post(f"{served.demo}:predict",
                               content=(body[i:i + 8192] for i in range(0, len(body), 8192)))
    assert chunked.status_code == 413  # no length announced: refused while reading
    assert "error" in chunked.json()
    assert served.predict(served.demo, {"instances": [1.0]}) == {"predictions": [3.5]}


def test_bad_requests_do_not_disturb_good_ones(served: Served) -> None:
    bodies = [{"instances": [float(i)]} if i % 2 else {"instances": [[float(i)]]}
              for i in range(32)]
    answers = concurrently(
        lambda http, body: served.post(f"{served.demo}:predict", body, http), bodies)
    for i, answer in enumerate(answers):
        if i % 2:
            assert answer.json() == {"predictions": [i / 2 + 3]}
        else:
            assert answer.status_code == 400
    assert served.predict(served.demo, {"instances": [2.0]}) == {"predictions": [4.0]}


def test_a_request_failing_in_tensorflow_fails_alone_in_its_batch(served: Served) -> None:
    # Valid JSON, right shape and dtype: these join a batch, where x < 0 fails in the model.
    xs = [float(i) if i % 4 else -1.0 for i in range(32)]
    answers = concurrently(lambda http, x: served.post(f"{served.demo}:predict", {
        "signature_name": "checked", "instances": [x]}, http), xs)
    for x, answer in zip(xs, answers, strict=True):
        if x < 0:
            assert answer.status_code == 400 and "error" in answer.json()
        else:
            assert answer.json() == {"predictions": [pytest.approx(x ** 0.5)]}


# --- batching, health, metrics -----------------------------------------------------------

def test_concurrent_requests_are_batched_and_answered_each_correctly(served: Served) -> None:
    before = served.metrics(served.digits)
    test = json.loads(served.container.exec_run(["cat", "/tmp/models/digits-test.json"]).output)
    alone = served.predict(served.digits, {"instances": test["pixels"]})["predictions"]
    answers = concurrently(lambda http, pixels: served.predict(
        served.digits, {"instances": [pixels]}, http)["predictions"][0], test["pixels"])
    for answer, expected in zip(answers, alone, strict=True):
        assert answer["digit"] == expected["digit"]
        assert answer["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)
    after = served.metrics(served.digits)
    def change(name: str) -> float:
        return sample(after, name) - sample(before, name)

    # One run of the 64 rows asked at once (over --max-batch-size: alone), then the 64
    # requests of one row in fewer runs than requests: some ran together. None waited the
    # minute of --batch-timeout-ms (httpx's timeout is 30 s): only while the model runs.
    assert change("dllab_serve_batch_size_sum") == 2 * len(test["pixels"])
    assert change("dllab_serve_batch_size_count") - 1 < len(test["pixels"])
    assert change('dllab_serve_batch_size_bucket{le="1"}') < len(test["pixels"])
    exact = concurrently(lambda http, x: served.predict(served.demo, {"instances": [x]}, http),
                         [float(i) for i in range(64)])
    assert exact == [{"predictions": [i / 2 + 3]} for i in range(64)]


def test_an_idle_model_runs_a_lone_request_at_once(served: Served) -> None:
    # digits' --batch-timeout-ms is a minute: a request alone must not wait for company.
    before = served.metrics(served.digits)
    for _ in range(3):
        start = time.monotonic()
        answer = served.predict(served.digits, {"instances": [[0.5] * 64]})
        assert len(answer["predictions"]) == 1
        assert time.monotonic() - start < 20  # far below the minute it would wait
    after = served.metrics(served.digits)
    bucket = 'dllab_serve_batch_size_bucket{le="1"}'
    assert sample(after, bucket) - sample(before, bucket) == 3  # batches of one


def test_health(served: Served) -> None:
    answer = served.http.get(served.demo.split("/v1/")[0] + "/v1/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "serving", "inflight": 0}


def test_metrics_are_prometheus_text(served: Served) -> None:
    served.post(f"{served.demo}:predict", {"instances": ["bad"]})
    text = served.metrics(served.demo)
    for line in text.splitlines():
        assert re.fullmatch(r"# (HELP|TYPE) \w+ .+|\w+(\{\w+=\"[^\"]*\"\})? \S+", line), line
    for name, kind in [("dllab_serve_requests_total", "counter"),
                       ("dllab_serve_request_duration_seconds", "histogram"),
                       ("dllab_serve_inflight_requests", "gauge"),
                       ("dllab_serve_batch_size", "histogram"),
                       ("dllab_serve_model_loaded", "gauge")]:
        assert f"# TYPE {name} {kind}" in text
    assert sample(text, 'dllab_serve_requests_total{code="200"}') >= 1
    assert sample(text, 'dllab_serve_requests_total{code="400"}') >= 1
    assert sample(text, 'dllab_serve_model_loaded{version="1"}') == 1
    assert sample(text, 'dllab_serve_model_loaded{version="2"}') == 1
    assert sample(text, "dllab_serve_inflight_requests") == 0
    buckets = [float(n) for n in re.findall(
        r'^dllab_serve_request_duration_seconds_bucket\{le="[^"]+"\} (\S+)$', text, re.M)]
    assert buckets == sorted(buckets)
    assert buckets[-1] == sample(text, "dllab_serve_request_duration_seconds_count")
    assert 'le="0.001"' in text and 'le="10"' in text


# --- a service replica's model from the S3 artifact store --------------------------------

def test_s3_replica_pulls_its_version_once_then_runs_the_command(
        docker_client: Any, s3_server: dict[str, str]) -> None:
    model = Path(s3_server["data"]) / "artifacts" / "services" / "digits"
    for name in ("1/saved_model.pb", "2/saved_model.pb", "2/variables/variables.index",
                 "20/saved_model.pb"):
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        (model / name).write_text(name)
    store = {"endpoint": s3_server["endpoint"], "region": "", "bucket": "artifacts",
             "prefix": "services/digits", "access_key": "AKTEST", "secret_key": "SKTEST"}
    output = docker_client.containers.run(
        RUNTIME_IMAGE, ["bash", "-c", "cd /dllab/artifacts && find . -type f | sort; "
                        "env | grep -c DLLAB_ARTIFACTS_S3 || true"],
        remove=True, name=f"dllab-test-serve-s3-{os.getpid()}",
        extra_hosts={"host.docker.internal": "host-gateway"},
        environment={"DLLAB_ARTIFACTS_S3": json.dumps(store), "DLLAB_ARTIFACTS_SYNC": "once",
                     "DLLAB_ARTIFACTS_ONLY": "2"}).decode()
    # Version 2 only (not 1, nor 20), and the command does not see the credentials.
    assert output.splitlines() == [
        "dllab-artifacts: 2 files pulled from s3://artifacts/services/digits",
        "./2/saved_model.pb", "./2/variables/variables.index", "0"]


# --- last: it stops the container --------------------------------------------------------

def test_sigterm_drains_then_exits_0(served: Served) -> None:
    health = served.demo.split("/v1/")[0] + "/v1/health"
    def slow_predict() -> Any:
        with httpx.Client(timeout=30) as http:  # its own: served.http is this thread's
            return served.predict(served.demo, {"signature_name": "slow", "inputs": 2.0}, http)

    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(slow_predict)
        deadline = time.monotonic() + 10
        while served.http.get(health).json()["inflight"] < 1:
            assert time.monotonic() < deadline, "the slow request never started"
            time.sleep(0.02)
        stopped = pool.submit(served.container.stop, timeout=30)  # docker stop: SIGTERM
        deadline = time.monotonic() + 20
        while (answer := served.http.get(health)).status_code == 200:
            assert time.monotonic() < deadline, "health never said draining"
            time.sleep(0.02)
        assert answer.status_code == 503
        assert answer.json() == {"status": "draining", "inflight": 1}
        assert served.predict(served.demo, {"instances": [1.0]}) == {"predictions": [3.5]}
        assert slow.result(timeout=30)["outputs"] >= 2.0  # in flight: answered, not cut
        stopped.result(timeout=30)
    served.container.reload()
    assert served.container.attrs["State"]["ExitCode"] == 0
    log = served.container.logs().decode()
    assert "draining" in log and "stopped" in log
