"""A prediction service's OpenAPI 3.1 document, built from its model's signatures (TF
Serving has none), with example requests: the public endpoints of TF Serving's REST API
for one model, as DLLab serves them at ``{server_url}/serving/{service}/v1/models/{model}``.

TF Serving's predict request comes in two formats: row, ``"instances"`` (a list with an
item per batch element: the bare value when the signature has one input, else an object
by input name), and columnar, ``"inputs"`` (the whole tensors by input name, or the bare
tensor for one input). The responses mirror them: ``"predictions"`` and ``"outputs"``.
Binary strings travel as ``{"b64": ...}``, for tensors whose name ends in "_bytes".
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_SIGNATURE = "serving_default"

_INTEGER = re.compile(r"(q?u?)int(\d+)")
_FORMS = {"instances": "row", "inputs": "columnar"}
_ZEROS = {"number": 0.0, "integer": 0, "boolean": False, "string": ""}
_B64 = {"type": "object", "required": ["b64"], "additionalProperties": False,
        "properties": {"b64": {"type": "string", "contentEncoding": "base64"}}}
_NOT_FOUND = {404: "No such model, version or label"}
_PREDICT_ERRORS = {
    400: "The request does not match the signature, or the model failed on it",
    404: "No such model, version, label or signature",
    413: "The request body is over the size limit",
}
_UNAUTHORIZED = {401: "No token, or one without access to this service"}
_STATES = ["UNKNOWN", "START", "LOADING", "AVAILABLE", "UNLOADING", "END"]


def example_payloads(signatures: dict[str, dict]) -> dict[str, dict]:
    """Per signature, a predict request in each format, {"instances": ..., "inputs": ...},
    of zeros of the inputs' dtypes and shapes: a batch of 1 where the batch size is free,
    1 for any other unknown size, a scalar for an unknown rank."""
    return {name: {"instances": _with_name(name, {"instances": _instances(signature)}),
                   "inputs": _with_name(name, {"inputs": {
                       key: _zeros(spec, key) for key, spec in signature["inputs"].items()}})}
            for name, signature in signatures.items()}


def service_openapi(service: str, model: str, signatures: dict[str, dict], server_url: str,
                    token_required: bool = False) -> dict:
    """The OpenAPI 3.1 document of prediction service ``service`` serving ``model``: its
    status, metadata and predict endpoints (the latest version, a version by number, by
    label), the predict request and response schemas built from ``signatures`` (as
    ``saved_model.parse_signatures`` gives them), with ``example_payloads``; a bearer
    token on every endpoint when ``token_required``."""
    base = f"/v1/models/{model}"
    unauthorized = _UNAUTHORIZED if token_required else {}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": f"{service}: prediction service", "version": "1",
                 "description": _description(model, signatures)},
        "servers": [{"url": f"{server_url.rstrip('/')}/serving/{service}"}],
        "paths": {
            base: {"get": _operation(
                "getModelStatus", "The model's versions and their states",
                "ModelStatus", _NOT_FOUND | unauthorized)},
            f"{base}/metadata": {"get": _operation(
                "getModelMetadata", "The model's signatures, as TF Serving reads them",
                "ModelMetadata", _NOT_FOUND | unauthorized)},
            f"{base}:predict": {"post": _predict(signatures, None, unauthorized)},
            f"{base}/versions/{{version}}:predict": {
                "post": _predict(signatures, "version", unauthorized)},
            f"{base}/labels/{{label}}:predict": {
                "post": _predict(signatures, "label", unauthorized)},
        },
        "components": {"schemas": {
            "PredictRequest": {"oneOf": [
                variant for name, signature in signatures.items()
                for variant in _request_schemas(name, signature)]},
            "PredictResponse": {"anyOf": [
                variant for signature in signatures.values()
                for variant in _response_schemas(signature)]},
            "ModelStatus": _STATUS_SCHEMA,
            "ModelMetadata": _METADATA_SCHEMA,
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string"}}},
        }},
    }
    if token_required:
        document["components"]["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "A DLLab API token of a user with access to this service"}}
        document["security"] = [{"bearer": []}]
    # Schemas are shared within the document and with this module: a copy with none
    # shared, so that a caller's edit of one place shows up nowhere else.
    return json.loads(json.dumps(document))


def _description(model: str, signatures: dict[str, dict]) -> str:
    lines = [f"TF Serving's REST API for model `{model}`. Signatures:", ""]
    for name, signature in signatures.items():
        inputs = ", ".join(f"`{key}` {_describe(spec)}" for key, spec in
                           signature["inputs"].items())
        lines.append(f"- `{name}`: {inputs or 'no inputs'}")
    return "\n".join(lines)


def _describe(spec: dict) -> str:
    shape = spec["shape"]
    return f"{spec['dtype']} {shape if shape is not None else '(any shape)'}"


# Examples

def _with_name(name: str, request: dict) -> dict:
    return request if name == DEFAULT_SIGNATURE else {"signature_name": name, **request}


def _instances(signature: dict) -> list:
    inputs = signature["inputs"]
    size = _batch_size(inputs)
    instances = [{key: _zeros(spec, key, batched=True) for key, spec in inputs.items()}
                 for _ in range(1 if size is None else size)]
    # TF Serving's row format: one input's instances are its bare values.
    return [next(iter(item.values())) for item in instances] if len(inputs) == 1 else instances


def _zeros(spec: dict, name: str, batched: bool = False) -> Any:
    shape = spec["shape"] or []
    return _nested(shape[1:] if batched else shape, spec["dtype"], name)


def _nested(shape: list[int], dtype: str, name: str) -> Any:
    if not shape:
        return _zero(dtype, name)
    return [_nested(shape[1:], dtype, name) for _ in range(shape[0] if shape[0] >= 0 else 1)]


def _zero(dtype: str, name: str) -> Any:
    kind = _leaf_schema(dtype, name).get("type")
    return {"b64": ""} if kind == "object" else _ZEROS.get(kind, 0)


def _batch_size(inputs: dict[str, dict]) -> int | None:
    """The batch size the inputs fix (the first known first dimension), or None."""
    sizes = [spec["shape"][0] for spec in inputs.values() if spec["shape"]]
    return next((size for size in sizes if size >= 0), None)


# Request and response schemas

def _request_schemas(name: str, signature: dict) -> list[dict]:
    inputs = signature["inputs"]
    instances = {"type": "array", "items": _by_name(inputs, batched=True),
                 **_length(_batch_size(inputs), at_least=1)}
    return [_request(name, "instances", instances), _request(name, "inputs", _by_name(inputs))]


def _request(name: str, key: str, value: dict) -> dict:
    default = name == DEFAULT_SIGNATURE
    return {"type": "object", "title": f"{name}, {_FORMS[key]}",
            "required": [key] if default else ["signature_name", key],
            "properties": {"signature_name": {"const": name}, key: value},
            "additionalProperties": False}


def _response_schemas(signature: dict) -> list[dict]:
    outputs = signature["outputs"]
    predictions = {"type": "array", "items": _by_name(outputs, batched=True)}
    return [{"type": "object", "required": ["predictions"],
             "properties": {"predictions": predictions}},
            {"type": "object", "required": ["outputs"],
             "properties": {"outputs": _by_name(outputs)}}]


def _by_name(tensors: dict[str, dict], batched: bool = False) -> dict:
    """An object of the tensors by name; for a single tensor, the bare tensor too."""
    schema = {"type": "object", "required": list(tensors), "additionalProperties": False,
              "properties": {key: _tensor_schema(spec, key, batched)
                             for key, spec in tensors.items()}}
    if len(tensors) != 1:
        return schema
    ((key, spec),) = tensors.items()
    return {"anyOf": [_tensor_schema(spec, key, batched), schema]}


def _tensor_schema(spec: dict, name: str, batched: bool) -> dict:
    schema = _leaf_schema(spec["dtype"], name)
    if spec["shape"] is None:
        schema = {"anyOf": [schema, {"type": "array"}]}
    else:
        for size in reversed(spec["shape"][1:] if batched else spec["shape"]):
            schema = {"type": "array", "items": schema, **_length(size if size >= 0 else None)}
    return {**schema, "description": _describe(spec)}


def _length(size: int | None, at_least: int = 0) -> dict:
    if size is not None:
        return {"minItems": size, "maxItems": size}
    return {"minItems": at_least} if at_least else {}


def _leaf_schema(dtype: str, name: str) -> dict:
    """The schema of one value of ``dtype``; any JSON value for those with no JSON form in
    TF Serving (complex, resource, variant...)."""
    if dtype == "string":
        return _B64 if name.endswith("_bytes") else {"type": "string"}
    if dtype == "bool":
        return {"type": "boolean"}
    if dtype.startswith(("float", "bfloat")):
        return {"type": "number"}
    if match := _INTEGER.fullmatch(dtype):
        bits = int(match[2])
        low, high = ((0, (1 << bits) - 1) if "u" in match[1]
                     else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1))
        return {"type": "integer", "minimum": low, "maximum": high}
    return {}


# Operations

def _predict(signatures: dict[str, dict], by: str | None, errors: dict[int, str]) -> dict:
    which = {None: "the latest version", "version": "a version, by number",
             "label": "a version, by label"}[by]
    operation = _operation(f"predict{(by or '').title()}", f"Predict with {which}",
                           "PredictResponse", _PREDICT_ERRORS | errors)
    examples = {f"{name}-{_FORMS[key]}": {"summary": f"{name}, {_FORMS[key]}", "value": value}
                for name, payloads in example_payloads(signatures).items()
                for key, value in payloads.items()}
    operation["requestBody"] = {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/PredictRequest"}, "examples": examples}}}
    if by:
        schema = {"type": "integer", "minimum": 0} if by == "version" else {"type": "string"}
        operation["parameters"] = [{"name": by, "in": "path", "required": True,
                                    "schema": schema}]
    return operation


def _operation(operation_id: str, summary: str, schema: str, errors: dict[int, str]) -> dict:
    responses = {"200": _json_response(summary, schema)} | {
        str(code): _json_response(description, "Error")
        for code, description in sorted(errors.items())}
    return {"operationId": operation_id, "summary": summary, "responses": responses}


def _json_response(description: str, schema: str) -> dict:
    return {"description": description,
            "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{schema}"}}}}


_STATUS_SCHEMA = {"type": "object", "required": ["model_version_status"], "properties": {
    "model_version_status": {"type": "array", "items": {"type": "object", "properties": {
        "version": {"type": "string"},
        "state": {"enum": _STATES},
        "status": {"type": "object", "properties": {
            "error_code": {"type": "string"}, "error_message": {"type": "string"}}}}}}}}

_METADATA_SCHEMA = {"type": "object", "required": ["model_spec", "metadata"], "properties": {
    "model_spec": {"type": "object", "properties": {
        "name": {"type": "string"}, "signature_name": {"type": "string"},
        "version": {"type": "string"}}},
    "metadata": {"type": "object", "properties": {"signature_def": {"type": "object"}}}}}
