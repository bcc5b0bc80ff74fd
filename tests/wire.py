"""One check shared by the converter and contract tests: a body is exactly a declared wire model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def assert_exact(model: type[BaseModel], body: dict[str, Any]) -> None:
    """`body` is exactly a `model`: it validates, and reading it back drops or adds no key."""
    assert model.model_validate(body).model_dump(mode="json", exclude_unset=True) == body, model.__name__
