"""OpenAI's published response schemas (`openai_schema.yaml`, copied from openai/openai-openapi) as JSON
Schema validators, for checking what a real server answers.

Two readings are applied to the copy, both said where they are made: OpenAPI 3.0's `nullable: true`,
still used in a few of OpenAI's 3.1 schemas, means "or null"; and a chat message's `annotations` may also
hold DashScope compatible mode's `audio_info` annotation (language, emotion), openasr's one documented
addition to OpenAI's answer, which OpenAI's schema only knows as url citations.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from openasr.server.annotations import AudioInfoAnnotation

SCHEMA_FILE = Path(__file__).with_name("openai_schema.yaml")


def _nullable_as_null(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_as_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    read = {key: _nullable_as_null(value) for key, value in node.items() if key != "nullable"}
    return {"anyOf": [read, {"type": "null"}]} if node.get("nullable") is True else read


@functools.cache
def _components() -> dict[str, Any]:
    document = yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))
    schemas: dict[str, Any] = _nullable_as_null(document["components"]["schemas"])
    annotations = schemas["ChatCompletionResponseMessage"]["properties"]["annotations"]
    annotations["items"] = {"anyOf": [annotations["items"], AudioInfoAnnotation.model_json_schema()]}
    return schemas


def schema_errors(name: str, body: Any) -> list[str]:
    """Every way `body` breaks OpenAI's schema `name` (empty when it conforms)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": _components()}}
    validator = Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(body)]


def assert_conforms(name: str, body: Any) -> None:
    errors = schema_errors(name, body)
    assert not errors, f"{name}: {errors}\n{body}"
