"""Prediction services' OpenAPI documents and example requests, built from the signatures
of the real SavedModels in data/saved_models: the documents validate as OpenAPI 3.1, the
examples have the inputs' shapes and dtypes and validate against the request schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from dllab.serving.openapi import example_payloads, service_openapi
from dllab.serving.saved_model import read_signatures

FIXTURES = Path(__file__).parent / "data" / "saved_models"
MODELS = sorted(path.name for path in FIXTURES.iterdir() if path.is_dir())
SIGNATURES = {model: read_signatures(FIXTURES / model) for model in MODELS}
BASE = "/v1/models/mnist"


def document(model: str, token_required: bool = False) -> dict:
    return service_openapi("digits", "mnist", SIGNATURES[model], "https://lab.example/",
                           token_required=token_required)


def validator(doc: dict, name: str) -> jsonschema.Draft202012Validator:
    """A validator of the document's component schema ``name``, its $refs resolved."""
    registry = Registry().with_resource("urn:doc", Resource(doc, DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": f"urn:doc#/components/schemas/{name}"},
                                           registry=registry)


def shape_of(value: Any) -> list[int]:
    return [len(value), *shape_of(value[0])] if isinstance(value, list) else []


def leaves(value: Any) -> list[Any]:
    return [leaf for item in value for leaf in leaves(item)] if isinstance(value, list) else [value]


def expected_shape(shape: list[int] | None) -> list[int]:
    return [1 if size < 0 else size for size in shape or []]


LEAF = {"float32": 0.0, "float64": 0.0, "float16": 0.0, "int64": 0, "int32": 0, "int8": 0,
        "uint8": 0, "bool": False, "string": ""}


# Examples

@pytest.mark.parametrize("model", MODELS)
def test_columnar_examples_have_each_inputs_shape_and_dtype(model: str):
    for name, payloads in example_payloads(SIGNATURES[model]).items():
        inputs = SIGNATURES[model][name]["inputs"]
        request = payloads["inputs"]["inputs"]
        assert request.keys() == inputs.keys()
        for key, spec in inputs.items():
            assert shape_of(request[key]) == expected_shape(spec["shape"])
            zero = {"b64": ""} if key.endswith("_bytes") else LEAF[spec["dtype"]]
            assert all(type(leaf) is type(zero) and leaf == zero
                       for leaf in leaves(request[key]))


@pytest.mark.parametrize("model", MODELS)
def test_row_examples_have_one_instance_per_batch_element(model: str):
    for name, payloads in example_payloads(SIGNATURES[model]).items():
        inputs = SIGNATURES[model][name]["inputs"]
        columnar = payloads["inputs"]["inputs"]
        instances = payloads["instances"]["instances"]
        if len(inputs) == 1:
            ((key, spec),) = inputs.items()
            # Of an unknown rank, the example is a scalar: one instance.
            assert instances == (columnar[key] if spec["shape"] else [columnar[key]])
        else:
            assert instances == [{key: tensor[i] for key, tensor in columnar.items()}
                                 for i in range(len(instances))]


def test_examples_name_the_signature_unless_it_is_the_default():
    payloads = example_payloads(SIGNATURES["several_signatures"])
    assert payloads["serving_default"] == {"instances": {"instances": [[0.0, 0.0]]},
                                           "inputs": {"inputs": {"x": [[0.0, 0.0]]}}}
    assert payloads["any_rank"] == {
        "instances": {"signature_name": "any_rank", "instances": [0.0]},
        "inputs": {"signature_name": "any_rank", "inputs": {"value": 0.0}}}
    assert payloads["flags"]["instances"] == {
        "signature_name": "flags", "instances": [{"mask": [False] * 3, "small": 0}]}


def test_a_fixed_batch_size_makes_that_many_instances():
    assert example_payloads(SIGNATURES["fixed_shape"])["serving_default"]["instances"] == {
        "instances": [[0.0, 0.0], [0.0, 0.0]]}


def test_binary_inputs_are_base64_objects():
    assert example_payloads(SIGNATURES["strings"])["serving_default"]["instances"] == {
        "instances": [{"payload_bytes": {"b64": ""}, "text": ""}]}


# The document

@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("token_required", [False, True])
def test_the_document_is_valid_openapi_3_1(model: str, token_required: bool):
    doc = document(model, token_required)
    schemathesis.openapi.from_dict(doc).validate()
    # The OpenAPI meta-schema leaves schemas to JSON Schema's own.
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_the_endpoints_are_tf_servings_behind_the_service():
    doc = document("keras_dense")
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": "https://lab.example/serving/digits"}]
    assert {path: list(item) for path, item in doc["paths"].items()} == {
        BASE: ["get"], f"{BASE}/metadata": ["get"], f"{BASE}:predict": ["post"],
        f"{BASE}/versions/{{version}}:predict": ["post"],
        f"{BASE}/labels/{{label}}:predict": ["post"]}
    predict = doc["paths"][f"{BASE}:predict"]["post"]
    assert set(predict["responses"]) == {"200", "400", "404", "413"}
    assert set(doc["paths"][BASE]["get"]["responses"]) == {"200", "404"}
    version = doc["paths"][f"{BASE}/versions/{{version}}:predict"]["post"]["parameters"]
    assert version == [{"name": "version", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 0}}]
    assert "security" not in doc and "securitySchemes" not in doc["components"]


def test_a_required_token_is_a_bearer_scheme_and_a_401():
    doc = document("keras_dense", token_required=True)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["security"] == [{"bearer": []}]
    for item in doc["paths"].values():
        for operation in item.values():
            assert "401" in operation["responses"]


@pytest.mark.parametrize("model", MODELS)
def test_every_example_is_a_valid_request_and_the_schema_takes_both_formats(model: str):
    doc = document(model)
    request = validator(doc, "PredictRequest")
    for item in doc["paths"].values():
        for operation in item.values():
            for example in operation.get("requestBody", {}).get("content", {}).get(
                    "application/json", {}).get("examples", {}).values():
                request.validate(example["value"])
    examples = doc["paths"][f"{BASE}:predict"]["post"]["requestBody"]["content"][
        "application/json"]["examples"]
    assert len(examples) == 2 * len(SIGNATURES[model])


@pytest.mark.parametrize(("model", "body"), [
    ("keras_dense", {"instances": [[0.0, 0.0, 0.0]]}),  # 3 features, not 4
    ("keras_dense", {"instances": [["a", 0.0, 0.0, 0.0]]}),
    ("keras_dense", {"instances": [], "inputs": {"inputs": [[0.0] * 4]}}),
    ("keras_dense", {"signature_name": "scores", "instances": [[0.0] * 4]}),
    ("fixed_shape", {"instances": [[0.0, 0.0]]}),  # the batch is 2
    ("two_inputs", {"instances": [{"features": [0.0] * 3}]}),  # ids missing
    ("two_inputs", {"inputs": {"features": [[0.0] * 3], "ids": [0.5]}}),
    ("strings", {"inputs": {"text": [""], "payload_bytes": [""]}}),  # not {"b64": ...}
    ("several_signatures", {"instances": [[[[0], [0]], [[0], [0]]]]}),  # scores' input
    ("several_signatures", {"signature_name": "scores", "instances": [[[[256], [0]],
                                                                       [[0], [0]]]]}),
    ("several_signatures", {"signature_name": "flags", "inputs": {"mask": [[0, 1, 0]],
                                                                  "small": [0]}}),
])
def test_requests_off_the_signature_are_invalid(model: str, body: dict):
    assert not validator(document(model), "PredictRequest").is_valid(body)


@pytest.mark.parametrize(("model", "body"), [
    ("keras_dense", {"inputs": [[1.5, 2, 3, 4], [0, 0, 0, 0]]}),  # a single input, bare
    ("keras_dense", {"signature_name": "serving_default", "instances": [{"inputs": [0] * 4}]}),
    ("several_signatures", {"signature_name": "any_rank", "inputs": {"value": [[1.0], [2.0]]}}),
    ("several_signatures", {"signature_name": "scores", "instances": [
        [[[255], [0]], [[0], [0]]], [[[1], [2]], [[3], [4]]]]}),
])
def test_requests_tf_serving_takes_are_valid(model: str, body: dict):
    validator(document(model), "PredictRequest").validate(body)


@pytest.mark.parametrize(("model", "body", "valid"), [
    ("keras_dense", {"predictions": [[0.5, 0.5]]}, True),
    ("keras_dense", {"outputs": [[0.5, 0.5]]}, True),
    ("keras_dense", {"predictions": [[0.5, 0.5, 0.5]]}, False),
    ("two_inputs", {"predictions": [{"scores": 1.0, "next_ids": 2}]}, True),
    ("two_inputs", {"outputs": {"scores": [1.0], "next_ids": [2.5]}}, False),
    ("strings", {"outputs": {"length": [3], "upper": ["ABC"]}}, True),
])
def test_response_schemas_describe_tf_servings_answers(model: str, body: dict, valid: bool):
    assert validator(document(model), "PredictResponse").is_valid(body) is valid


def test_the_document_is_a_fresh_copy_each_time():
    doc = document("two_inputs")
    doc["components"]["schemas"]["Error"]["properties"]["error"]["type"] = "integer"
    assert document("two_inputs")["components"]["schemas"]["Error"]["properties"]["error"] == {
        "type": "string"}
