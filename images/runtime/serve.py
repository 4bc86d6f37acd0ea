#!/opt/dllab/bin/python
"""dllab-serve: serve one model's SavedModel versions over TensorFlow Serving's REST API.

    dllab-serve --model-name NAME --model-base-path DIR [--host 0.0.0.0] [--port 8501]
                [--max-batch-size 32] [--batch-timeout-ms 2] [--max-body-bytes 16777216]
                [--label stable=1 ...] [--drain-seconds 8]

DIR has TensorFlow Serving's layout: one numbered folder per version, each a SavedModel.
The server listens at once, then loads every version (the default one is the highest).
Its answers are shaped as TensorFlow Serving's (https://www.tensorflow.org/tfx/serving/api_rest):

    GET  /v1/models/NAME[/versions/V | /labels/L]              {"model_version_status": [...]}
    GET  /v1/models/NAME[/versions/V | /labels/L]/metadata     {"model_spec", "metadata"}
    POST /v1/models/NAME[/versions/V | /labels/L]:predict      {"instances"} -> {"predictions"}
                                                               {"inputs"} -> {"outputs"}
    errors                                          {"error": "..."}: 400, 404, 405, 413, 501

and two of DLLab's: ``GET /v1/health`` (200 ``{"status": "serving", "inflight": N}`` once
every version is loaded, else 503 "loading" or "draining") and ``GET /metrics``
(Prometheus text: requests by status code, latency and batch size histograms, requests in
flight, versions loaded).

Concurrent predict requests for the same signature, whose inputs all have a leading batch
dimension and the same dtypes and inner shapes, are run as one batch of up to
--max-batch-size rows; the outputs are split back by rows. An idle model runs a request at
once, alone if it came alone: batches form while the model is busy, from the requests that
pile up meanwhile (and a worker freed while another still runs may wait for more, at most
--batch-timeout-ms after the batch's first request came). Requests are checked before they
join a batch, so a bad one fails alone; a batch that fails in the model is run again request
by request. The loaded signature functions are called directly, in worker threads: the event
loop stays free and no Keras ``predict`` overhead is paid.

SIGTERM (or SIGINT) drains: health answers 503 "draining" at once so that load balancers
take the replica out, requests still arriving are served, and the process exits 0 once
nothing is in flight, after a grace of DRAIN_GRACE_S, or after --drain-seconds at most.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import os
import re
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from aiohttp import web

DRAIN_GRACE_S = 1.0
# Batches run at once: one runs while the other's requests are read and answered; more
# would only share the same cores.
MODEL_THREADS = 2
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# TensorFlow Serving's URL grammar (http_rest_api_util.cc).
PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)")
STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?")
# The numpy type JSON values become for each TensorFlow dtype, and the kinds of array
# (b bool, i/u int, f float) each accepts, as TF Serving does: no floats for ints, no
# booleans for floats. DT_STRING is read apart.
NUMPY_TYPES = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_HALF": np.float16,
               "DT_INT8": np.int8, "DT_INT16": np.int16, "DT_INT32": np.int32,
               "DT_INT64": np.int64, "DT_UINT8": np.uint8, "DT_UINT32": np.uint32,
               "DT_UINT64": np.uint64, "DT_BOOL": np.bool_}
ACCEPTED_KINDS = {np.float32: "iuf", np.float64: "iuf", np.float16: "iuf", np.bool_: "b"}
# TensorFlow's error codes as TF Serving answers them (http_server.cc); others: 500.
HTTP_STATUS = {1: 499, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409,
               11: 400, 12: 501, 14: 503, 16: 401}


def log(message: str) -> None:
    print(f"dllab-serve: {message}", file=sys.stderr, flush=True)


class ApiError(Exception):
    """An answer other than 200, with TensorFlow Serving's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


# --- the model ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorSpec:
    """A signature's tensor, from its SignatureDef: dtype "DT_FLOAT", dims (-1: any)."""

    dtype: str
    dims: tuple[int, ...] | None  # None: unknown rank

    @property
    def batched(self) -> bool:
        return bool(self.dims) and self.dims[0] == -1


@dataclass(eq=False)
class Signature:
    key: str  # "version/name": what a batch is made for
    function: Callable[..., dict[str, Any]]
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]

    @property
    def batchable(self) -> bool:
        return all(spec.batched for spec in (*self.inputs.values(), *self.outputs.values()))

    def __call__(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            outputs = self.function(**tensors)
        except Exception as exc:
            code = getattr(exc, "error_code", None)  # a tf.errors.OpError's
            if code is None:
                raise
            status = HTTP_STATUS.get(code, 500)
            if status == 500:
                log(f"signature {self.key} failed: {exc}")
            raise ApiError(status, exc.message) from None
        return {name: value.numpy() for name, value in outputs.items()}


@dataclass
class Version:
    number: int
    path: Path
    signatures: dict[str, Signature] = field(default_factory=dict)
    signature_defs: dict[str, Any] = field(default_factory=dict)  # as TF Serving prints them
    handle: Any = None  # the loaded SavedModel: its functions need its variables alive

    @property
    def loaded(self) -> bool:
        return self.handle is not None


@dataclass
class Model:
    name: str
    versions: dict[int, Version]
    labels: dict[str, int]

    def find(self, name: str, version: str | None, label: str | None) -> Version:
        """The loaded version a predict or metadata URL names, else TF Serving's 404."""
        number = self.number(name, version, label, status=False)
        if number is None:
            return self.latest()
        found = self.versions.get(number)
        if found is None or not found.loaded:
            raise ApiError(404, f"Servable not found for request: Specific({name}, {number})")
        return found

    def statuses(self, name: str, version: str | None, label: str | None) -> list[Version]:
        """The versions a status URL names, newest first, else TF Serving's 404."""
        number = self.number(name, version, label, status=True)
        if number is None:
            return sorted(self.versions.values(), key=lambda v: -v.number)
        if number not in self.versions:
            raise ApiError(404, f"Could not find version {number} of model {name}")
        return [self.versions[number]]

    def number(self, name: str, version: str | None, label: str | None,
               status: bool) -> int | None:
        """The version number a URL names; None: the model's default."""
        if name != self.name:  # worded as TF Serving's status and predict calls word it
            raise ApiError(404, f"Could not find any versions of model {name}" if status
                           else f"Servable not found for request: Latest({name})")
        if label is None:
            return None if version is None else int(version)
        if label not in self.labels:
            # TF Serving's own status for it: INVALID_ARGUMENT, not NOT_FOUND
            raise ApiError(400, f"Unrecognized servable version label: {label}")
        return self.labels[label]

    def latest(self) -> Version:
        loaded = [v for v in self.versions.values() if v.loaded]
        if not loaded:
            raise ApiError(404, f"Servable not found for request: Latest({self.name})")
        return max(loaded, key=lambda v: v.number)


def find_versions(base: Path) -> dict[int, Version]:
    numbers = sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())
    return {n: Version(n, base / str(n)) for n in numbers}


def tensor_spec(info: dict[str, Any]) -> TensorSpec:
    shape = info.get("tensor_shape", {})
    dims = None if shape.get("unknown_rank") else tuple(int(d["size"]) for d in shape["dim"])
    return TensorSpec(info["dtype"], dims)


def load_version(version: Version) -> None:
    """Load one SavedModel: its callable signatures, and its SignatureDefs for metadata."""
    import tensorflow as tf  # here, not at the top: the server answers health while it loads
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((version.path / "saved_model.pb").read_bytes())
    defs = json_format.MessageToDict(
        saved.meta_graphs[0], preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True).get("signature_def", {})
    loaded = tf.saved_model.load(str(version.path))
    signatures = {}
    for name, function in loaded.signatures.items():
        signatures[name] = Signature(
            f"{version.number}/{name}", function,
            {k: tensor_spec(v) for k, v in defs[name]["inputs"].items()},
            {k: tensor_spec(v) for k, v in defs[name]["outputs"].items()})
    version.signature_defs = defs
    version.signatures = signatures
    version.handle = loaded


def load_all(model: Model) -> None:
    began = time.monotonic()
    import tensorflow as tf

    log(f"TensorFlow {tf.__version__} imported in {time.monotonic() - began:.1f} s")
    for version in model.versions.values():
        start = time.monotonic()
        load_version(version)
        described = ", ".join(
            f"{name} ({','.join(sig.inputs)} -> {','.join(sig.outputs)})"
            for name, sig in version.signatures.items())
        log(f"version {version.number} loaded in {time.monotonic() - start:.1f} s: {described}")
    log(f"all {len(model.versions)} versions loaded in {time.monotonic() - began:.1f} s; "
        f"default version {model.latest().number}: serving")


# --- JSON to tensors ---------------------------------------------------------------------

def type_name(dtype: str) -> str:
    """TensorFlow's DataTypeString: DT_FLOAT -> float."""
    return dtype.removeprefix("DT_").lower()


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String", type(None): "Null"}.get(
        type(value), "Number")


def is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def is_named(value: Any) -> bool:
    """An object of named tensors (not a {"b64": ...} string)."""
    return isinstance(value, dict) and not is_b64(value)


def leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from leaves(item)
    else:
        yield value


def type_error(name: str, value: Any, spec: TensorSpec,
               accepted: Callable[[Any], bool]) -> NoReturn:
    """TF Serving's message for the first value of the wrong type, naming the input."""
    wrong = next((leaf for leaf in leaves(value) if not accepted(leaf)), value)
    raise bad_request(
        f"Input '{name}': JSON Value: {json.dumps(wrong)[:100]} Type: {json_type(wrong)} "
        f"is not of expected type: {type_name(spec.dtype)}")


def string_tensor(name: str, value: Any, spec: TensorSpec) -> np.ndarray:
    def decode(leaf: Any) -> bytes:
        if isinstance(leaf, str):
            return leaf.encode()
        if not is_b64(leaf):
            type_error(name, leaf, spec, lambda _: False)
        try:
            return base64.b64decode(leaf["b64"], validate=True)
        except binascii.Error:
            raise bad_request(f"Input '{name}': Unable to base64 decode") from None

    def walk(item: Any) -> Any:
        return [walk(x) for x in item] if isinstance(item, list) else decode(item)

    decoded = walk(value)
    flat = list(leaves(decoded))
    try:
        shape = np.shape(np.asarray(decoded, dtype=object))  # ragged: stops at that level
    except ValueError:
        raise ragged(name) from None
    if int(np.prod(shape)) != len(flat):
        raise ragged(name)
    tensor = np.empty(len(flat), dtype=object)
    tensor[:] = flat
    return tensor.reshape(shape)


def ragged(name: str) -> ApiError:
    return bad_request(f"Input '{name}': Encountered list at unexpected size: the lists at "
                       "one level must all have the same size")


def numeric_tensor(name: str, value: Any, spec: TensorSpec) -> np.ndarray:
    target = NUMPY_TYPES.get(spec.dtype)
    if target is None:
        raise ApiError(501, f"Input '{name}': Conversion of JSON to type: "
                       f"{type_name(spec.dtype)} is not supported")
    try:
        raw = np.asarray(value)
    except ValueError:
        raise ragged(name) from None
    kinds = ACCEPTED_KINDS.get(target, "iu")
    if raw.dtype.kind not in kinds:
        type_error(name, value, spec, lambda leaf: np.asarray(leaf).dtype.kind in kinds)
    tensor = raw.astype(target)
    if raw.dtype.kind in "iu" and not np.array_equal(tensor, raw):
        raise bad_request(f"Input '{name}': values out of range for {type_name(spec.dtype)}")
    return tensor


def to_tensor(name: str, value: Any, spec: TensorSpec) -> np.ndarray:
    if spec.dtype == "DT_STRING":
        tensor = string_tensor(name, value, spec)
    else:
        tensor = numeric_tensor(name, value, spec)
    if spec.dims is not None and (len(spec.dims) != tensor.ndim or any(
            want not in (-1, got) for want, got in zip(spec.dims, tensor.shape, strict=True))):
        raise bad_request(
            f"Input '{name}' has shape {shape_text(tensor.shape)} but the signature expects "
            f"{shape_text(spec.dims)} ({spec.dtype})")
    return tensor


def shape_text(dims: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def from_instances(instances: Any, inputs: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
    """Row format: one instance per batch row (FillTensorMapFromInstancesList)."""
    if not isinstance(instances, list):
        raise bad_request("Excepting 'instances' to be an list/array")
    if not instances:
        raise bad_request("No values in 'instances' array")
    if not is_named(instances[0]):
        if len(inputs) > 1:
            raise bad_request("instances is a plain list, but expecting list of objects as "
                              "multiple input tensors required as per tensorinfo_map")
        for index, instance in enumerate(instances):
            if is_named(instance):
                raise bad_request(f"Expecting value/list but got object at item {index} of "
                                  "input list")
        columns = {next(iter(inputs)): instances}
    else:
        for index, instance in enumerate(instances):
            if not is_named(instance):
                raise bad_request(f"Expecting object but got list at item {index} of input "
                                  "list")
            if instance.keys() != inputs.keys():
                raise bad_request(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{json.dumps(instance)[:200]} keys must be equal to: "
                    f"{','.join(sorted(inputs))}")
        columns = {name: [instance[name] for instance in instances] for name in inputs}
    return {name: to_tensor(name, columns[name], inputs[name]) for name in inputs}


def from_inputs(value: Any, inputs: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
    """Columnar format: whole tensors, by name (FillTensorMapFromInputsMap)."""
    if not is_named(value):
        if len(inputs) > 1:
            raise bad_request("inputs is a plain value/list, but expecting an object as "
                              "multiple input tensors required as per tensorinfo_map")
        name = next(iter(inputs))
        return {name: to_tensor(name, value, inputs[name])}
    for name in inputs:
        if name not in value:
            raise bad_request(f"Missing named input: {name} in 'inputs' object.")
    return {name: to_tensor(name, value[name], inputs[name]) for name in inputs}


def parse_body(body: bytes) -> dict[str, Any]:
    if not body:
        raise bad_request("JSON Parse error: The document is empty")
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        raise bad_request(f"JSON Parse error: {exc.msg} at offset: {exc.pos}") from None
    except UnicodeDecodeError:
        raise bad_request("JSON Parse error: Invalid encoding in string.") from None
    if not isinstance(document, dict):
        raise bad_request(f"JSON Value: {json.dumps(document)[:200]} Is not object")
    return document


@dataclass
class Request:
    signature: Signature
    tensors: dict[str, np.ndarray]
    row_format: bool

    @property
    def rows(self) -> int | None:
        """The batch dimension all inputs share, if they do."""
        sizes = {t.shape[0] if t.ndim else None for t in self.tensors.values()}
        return sizes.pop() if len(sizes) == 1 else None


def parse_predict(body: bytes, version: Version) -> Request:
    document = parse_body(body)
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise bad_request(f"JSON Value: {json.dumps(document)[:200]} not formatted correctly. "
                          "'signature_name' key must be a string value.")
    signature = version.signatures.get(name or "serving_default")
    if signature is None:
        raise bad_request(f'Serving signature name: "{name or "serving_default"}" not found '
                          "in signature def")
    if not signature.inputs:
        raise bad_request(f"Failed to get input map for signature: {name or 'DEFAULT'}")
    if "instances" in document and "inputs" in document:
        raise bad_request("Not formatted correctly expecting only one of 'inputs' or "
                          "'instances' keys to exist")
    if "instances" in document:
        return Request(signature, from_instances(document["instances"], signature.inputs), True)
    if "inputs" in document:
        return Request(signature, from_inputs(document["inputs"], signature.inputs), False)
    raise bad_request("Missing 'inputs' or 'instances' key")


# --- tensors to JSON ---------------------------------------------------------------------

def json_values(name: str, tensor: np.ndarray) -> Any:
    """A tensor as JSON values, as TF Serving writes them."""
    if tensor.dtype in (np.float32, np.float16):
        # The shortest decimal that reads back as the same float32: 0.2, not 0.200000003.
        return tensor.astype(str).astype(np.float64).tolist()
    if tensor.dtype == object:  # strings: bytes, written as text unless named *_bytes
        def write(item: Any) -> Any:
            if isinstance(item, list):
                return [write(x) for x in item]
            if name.endswith("_bytes"):
                return {"b64": base64.b64encode(item).decode()}
            return item.decode(errors="replace")

        return write(tensor.tolist())
    return tensor.tolist()


def render_outputs(outputs: dict[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    if not row_format:
        values = {name: json_values(name, t) for name, t in sorted(outputs.items())}
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    batch = None
    for name, tensor in sorted(outputs.items()):
        if tensor.ndim == 0:
            raise bad_request(f"Tensor name: {name} has no shape information ")
        if batch is not None and tensor.shape[0] != batch:
            raise bad_request(f"Tensor name: {name} has inconsistent batch size: "
                              f"{tensor.shape[0]} expecting: {batch}")
        batch = tensor.shape[0]
    rows = {name: json_values(name, t) for name, t in sorted(outputs.items())}
    if len(rows) == 1:
        return {"predictions": next(iter(rows.values()))}
    return {"predictions": [{name: rows[name][i] for name in rows} for i in range(batch)]}


# --- metrics -----------------------------------------------------------------------------

class Histogram:
    """A Prometheus histogram: cumulative counts per upper bound, sum and count."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        lines = [f'{name}_bucket{{le="{bound:g}"}} {n}'
                 for bound, n in zip(self.buckets, self.counts, strict=True)]
        return [*lines, f'{name}_bucket{{le="+Inf"}} {self.count}', f"{name}_sum {self.sum:.6f}",
                f"{name}_count {self.count}"]


@dataclass
class Metrics:
    requests: dict[int, int] = field(default_factory=dict)
    duration: Histogram = field(default_factory=lambda: Histogram(DURATION_BUCKETS))
    batch_size: Histogram = field(default_factory=lambda: Histogram(BATCH_BUCKETS))
    inflight: int = 0

    def render(self, model: Model) -> str:
        lines = ["# HELP dllab_serve_requests_total Model API requests answered, by status.",
                 "# TYPE dllab_serve_requests_total counter"]
        lines += [f'dllab_serve_requests_total{{code="{code}"}} {n}'
                  for code, n in sorted(self.requests.items())]
        lines += ["# HELP dllab_serve_request_duration_seconds Time to answer a model API "
                  "request.", "# TYPE dllab_serve_request_duration_seconds histogram",
                  *self.duration.lines("dllab_serve_request_duration_seconds"),
                  "# HELP dllab_serve_inflight_requests Model API requests being answered.",
                  "# TYPE dllab_serve_inflight_requests gauge",
                  f"dllab_serve_inflight_requests {self.inflight}",
                  "# HELP dllab_serve_batch_size Rows in each run of the model.",
                  "# TYPE dllab_serve_batch_size histogram",
                  *self.batch_size.lines("dllab_serve_batch_size"),
                  "# HELP dllab_serve_model_loaded Whether each version is loaded (1) or not.",
                  "# TYPE dllab_serve_model_loaded gauge"]
        lines += [f'dllab_serve_model_loaded{{version="{v.number}"}} {int(v.loaded)}'
                  for v in model.versions.values()]
        return "\n".join(lines) + "\n"


# --- batching ----------------------------------------------------------------------------

@dataclass(eq=False)
class Batch:
    """Requests waiting to run as one call: one key's, or a lone request (``key`` None)."""

    signature: Signature
    key: Hashable | None
    since: float  # the loop's time when its first request came
    parts: list[tuple[dict[str, np.ndarray], int, asyncio.Future]] = field(default_factory=list)
    rows: int = 0
    closed: bool = False  # takes no more requests: full, or a lone request


class Batcher:
    """Runs the model in MODEL_THREADS workers, requests of one key together.

    A request joins the queued batch of its key (signature, dtypes, inner shapes) or starts
    one; a request that cannot be batched is a batch of its own. Batches run oldest first.
    When every worker is free, the oldest batch runs at once, however small: an idle model
    never waits for company. While workers are busy, requests pile up and the next worker
    to free takes up to ``max_rows`` of them; if another worker is still running and the
    batch is not full, it waits for more until its first request has waited ``timeout_s``,
    the batch fills, or the other worker is done, whichever comes first.
    """

    def __init__(self, max_rows: int, timeout_s: float, metrics: Metrics,
                 workers: int = MODEL_THREADS) -> None:
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        self.metrics = metrics
        self.workers = self.idle = workers
        self.queue: deque[Batch] = deque()  # oldest first
        self.open: dict[Hashable, Batch] = {}  # the queued batch each key's requests join
        self.scheduled = False
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task] = set()

    async def run(self, request: Request) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        rows = request.rows
        if not request.signature.batchable or rows is None or rows > self.max_rows:
            batch = Batch(request.signature, None, loop.time(), closed=True)
            self.queue.append(batch)
        else:
            key = (request.signature.key, *sorted(
                (name, t.dtype.str, t.shape[1:]) for name, t in request.tensors.items()))
            batch = self.open.get(key)
            if batch is not None and batch.rows + rows > self.max_rows:
                self.close(batch)  # runs as it is
                batch = None
            if batch is None:
                batch = self.open[key] = Batch(request.signature, key, loop.time())
                self.queue.append(batch)
        answer = loop.create_future()
        batch.parts.append((request.tensors, rows or 1, answer))
        batch.rows += rows or 1
        if batch.rows >= self.max_rows:
            self.close(batch)
        if not self.scheduled:
            # After the requests that came with this one (the same turn of the loop) join.
            self.scheduled = True
            loop.call_soon(self.dispatch)
        return await answer

    def close(self, batch: Batch) -> None:
        batch.closed = True
        if self.open.get(batch.key) is batch:
            del self.open[batch.key]

    def dispatch(self) -> None:
        """Give free workers the oldest batches, or wait for company (see the docstring)."""
        self.scheduled = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        loop = asyncio.get_running_loop()
        while self.idle and self.queue:
            batch = self.queue[0]
            if not batch.closed and self.idle < self.workers:
                wait = batch.since + self.timeout_s - loop.time()
                if wait > 0:
                    self.timer = loop.call_later(wait, self.dispatch)
                    return
            self.queue.popleft()
            self.close(batch)
            self.idle -= 1
            task = loop.create_task(self.execute(batch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def execute(self, batch: Batch) -> None:
        try:
            # Requests whose clients went away (their futures cancelled) are not run.
            parts = [part for part in batch.parts if not part[2].done()]
            if parts:
                answers = await self.answers(batch.signature, parts)
                for (_, _, future), answer in zip(parts, answers, strict=True):
                    if future.done():
                        continue
                    if isinstance(answer, Exception):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)
        finally:
            self.idle += 1
            self.dispatch()

    async def answers(self, signature: Signature,
                      parts: list[tuple[dict[str, np.ndarray], int, asyncio.Future]]
                      ) -> list[dict[str, np.ndarray] | Exception]:
        if len(parts) == 1:
            tensors, rows, _ = parts[0]
            return [await self.alone(signature, tensors, rows)]
        sizes = [rows for _, rows, _ in parts]
        try:
            outputs = await self.call(signature, {
                name: np.concatenate([tensors[name] for tensors, _, _ in parts])
                for name in parts[0][0]}, sum(sizes))
            return split(outputs, sizes)
        except Exception:  # whatever failed, it fails only the requests it belongs to
            return [await self.alone(signature, tensors, rows) for tensors, rows, _ in parts]

    async def alone(self, signature: Signature, tensors: dict[str, np.ndarray],
                    rows: int) -> dict[str, np.ndarray] | Exception:
        try:
            return await self.call(signature, tensors, rows)
        except Exception as exc:
            return exc

    async def call(self, signature: Signature, tensors: dict[str, np.ndarray],
                   rows: int) -> dict[str, np.ndarray]:
        self.metrics.batch_size.observe(rows)
        return await asyncio.to_thread(signature, tensors)


def split(outputs: dict[str, np.ndarray], sizes: list[int]) -> list[dict[str, np.ndarray]]:
    ends = np.cumsum(sizes)
    if any(t.ndim == 0 or t.shape[0] != ends[-1] for t in outputs.values()):
        raise ValueError("an output has no batch dimension")
    return [{name: t[end - size:end] for name, t in outputs.items()}
            for size, end in zip(sizes, ends, strict=True)]


# --- HTTP --------------------------------------------------------------------------------

@dataclass
class Server:
    model: Model
    batcher: Batcher
    metrics: Metrics
    max_body_bytes: int
    draining: bool = False

    @property
    def loaded(self) -> bool:
        return all(v.loaded for v in self.model.versions.values())

    async def health(self, request: web.Request) -> web.Response:
        status = "draining" if self.draining else "serving" if self.loaded else "loading"
        return web.json_response({"status": status, "inflight": self.metrics.inflight},
                                 status=200 if status == "serving" else 503)

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(self.model),
                            content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})

    async def api(self, request: web.Request) -> web.Response:
        path = request.path
        if request.method == "POST" and (match := PREDICT_PATH.fullmatch(path)):
            name, version, label, verb = match.groups()
            if verb != "predict":
                raise ApiError(501, f"{verb.capitalize()} is not supported by dllab-serve: "
                               "use :predict")
            found = self.model.find(name, version, label)
            parsed = parse_predict(await self.read_body(request), found)
            outputs = await self.batcher.run(parsed)
            return json_answer(render_outputs(outputs, parsed.row_format))
        if request.method == "GET" and (match := STATUS_PATH.fullmatch(path)):
            name, version, label, metadata = match.groups()
            if not name:
                raise bad_request("Missing model name in request.")
            if metadata:
                return json_answer(self.metadata(self.model.find(name, version, label)))
            return json_answer(status(self.model.statuses(name, version, label)))
        # TF Serving answers 400 to both; a wrong method says more as a 405.
        if PREDICT_PATH.fullmatch(path) or STATUS_PATH.fullmatch(path):
            raise ApiError(405, f"Malformed request: {request.method} {path}")
        raise bad_request(f"Malformed request: {request.method} {path}")

    def metadata(self, version: Version) -> dict[str, Any]:
        return {"model_spec": {"name": self.model.name, "signature_name": "",
                               "version": str(version.number)},
                "metadata": {"signature_def": {"signature_def": version.signature_defs}}}

    async def read_body(self, request: web.Request) -> bytes:
        too_large = ApiError(413, f"Request body larger than {self.max_body_bytes} bytes")
        if (request.content_length or 0) > self.max_body_bytes:
            raise too_large
        body = bytearray()
        async for chunk in request.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > self.max_body_bytes:  # chunked bodies announce no length
                raise too_large
        return bytes(body)


def status(versions: list[Version]) -> dict[str, Any]:
    return {"model_version_status": [
        {"version": str(v.number), "state": "AVAILABLE" if v.loaded else "LOADING",
         "status": {"error_code": "OK", "error_message": ""}} for v in versions]}


def json_answer(document: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(document), status=status,
                        content_type="application/json")


def make_app(server: Server) -> web.Application:
    @web.middleware
    async def answer(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        counted = request.path not in ("/metrics", "/v1/health")
        start = time.monotonic()
        server.metrics.inflight += int(counted)
        try:
            response = await handler(request)
        except ApiError as exc:
            response = json_answer({"error": str(exc)}, exc.status)
        except web.HTTPException as exc:  # aiohttp's own: unknown path, wrong method
            response = json_answer({"error": f"{exc.reason}: {request.method} {request.path}"},
                                   exc.status)
        except Exception as exc:
            log(f"error answering {request.method} {request.path}: "
                f"{''.join(traceback.format_exception(exc)).rstrip()}")
            response = json_answer({"error": f"Internal: {exc}"}, 500)
        finally:
            server.metrics.inflight -= int(counted)
        if counted:
            server.metrics.requests[response.status] = (
                server.metrics.requests.get(response.status, 0) + 1)
            server.metrics.duration.observe(time.monotonic() - start)
        return response

    app = web.Application(middlewares=[answer])
    app.router.add_get("/v1/health", server.health)
    app.router.add_get("/metrics", server.prometheus)
    app.router.add_route("*", r"/v1/models{path:.*}", server.api)
    return app


# --- start and stop ----------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dllab-serve", description="Serve a model's SavedModel versions over "
        "TensorFlow Serving's REST API.")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--model-base-path", required=True, type=Path,
                        help="a folder of numbered version folders, each a SavedModel")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--max-batch-size", type=int, default=32, help="rows in one run")
    parser.add_argument("--batch-timeout-ms", type=float, default=2.0,
                        help="the longest the first request of a batch waits for others, "
                        "only while the model is busy with another batch: an idle model "
                        "runs a request at once")
    parser.add_argument("--max-body-bytes", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--label", action="append", default=[], metavar="LABEL=VERSION",
                        help="a version label (repeatable), e.g. stable=1")
    parser.add_argument("--drain-seconds", type=float, default=8.0,
                        help="the longest a SIGTERM waits for requests in flight (default "
                        "8: docker stop kills the container after 10 s)")
    return parser.parse_args(argv)


def make_model(args: argparse.Namespace) -> Model:
    """The model as the arguments describe it; raises ValueError when they cannot be."""
    base = args.model_base_path
    versions = find_versions(base) if base.is_dir() else {}
    if not versions:
        raise ValueError(f"no version folders (numbered) in {base}")
    labels = {}
    for text in args.label:
        label, _, number = text.partition("=")
        if not number.isdigit() or int(number) not in versions:
            raise ValueError(f"--label {text}: a label names a version in {base} "
                             f"({', '.join(map(str, versions))})")
        labels[label] = int(number)
    return Model(args.model_name, versions, labels)


async def serve(args: argparse.Namespace, model: Model) -> int:
    metrics = Metrics()
    server = Server(model, Batcher(args.max_batch_size, args.batch_timeout_ms / 1000, metrics),
                    metrics, args.max_body_bytes)
    runner = web.AppRunner(make_app(server), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    log(f"listening on http://{args.host}:{args.port}; loading versions "
        f"{', '.join(map(str, model.versions))} of {model.name} from {args.model_base_path}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loading = asyncio.create_task(asyncio.to_thread(load_all, model))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({loading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if loading.done() and loading.exception():
        exc = loading.exception()
        log(f"loading failed: {type(exc).__name__}: {exc}")
        await runner.cleanup()
        return 1
    await stopping
    server.draining = True
    log(f"draining: {metrics.inflight} requests in flight")
    await drain(metrics, args.drain_seconds)
    await runner.cleanup()
    log(f"stopped ({metrics.inflight} requests still in flight)")
    return 0


async def drain(metrics: Metrics, seconds: float) -> None:
    """Return once nothing has been in flight after the grace, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    await asyncio.sleep(min(DRAIN_GRACE_S, seconds))
    while metrics.inflight and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    # TensorFlow's errors only: it warns on every failed run, a line per bad request.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    try:
        model = make_model(args)
    except (OSError, ValueError) as exc:
        log(str(exc))
        return 2
    labels = ", ".join(f"{k}={v}" for k, v in model.labels.items()) or "none"
    log(f"model {model.name}: versions {', '.join(map(str, model.versions))}, labels {labels}")
    return asyncio.run(serve(args, model))


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Skips TensorFlow's teardown at exit (2 s here) and what it would add to a rollout.
    os._exit(code)
