"""GET /v1/models on the wire: OpenAI's `ListModelsResponse`, each model with the surfaces that take it.

Many UIs and proxies call `client.models.list()` to discover a server and check its health, so every
name a client may send is listed. OpenAI's `Model` (id, object, created, owned_by) is kept as is;
`surfaces` (`server.models.SURFACES`) and `engine` (the model that recognises) are openasr's additions,
which OpenAI's SDKs keep as extra fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from openasr.server.models import SURFACES, ModelCatalog


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelCard(_Exact):
    id: str
    object: Literal["model"]
    created: int = Field(description="when this server started (Unix seconds)")
    owned_by: Literal["openasr"]
    engine: str = Field(description="the engine model that recognises for this name")
    surfaces: list[str] = Field(description="where the name is accepted: " + ", ".join(SURFACES))


class ModelList(_Exact):
    object: Literal["list"]
    data: list[ModelCard]


def model_list(
    catalog: ModelCatalog, loaded: list[str], can_translate: Callable[[str], bool], created: int
) -> dict[str, Any]:
    """Every public name with its engine and surfaces; `can_translate` answers for an engine model."""
    data = []
    for name in catalog.public_names(loaded):
        engine = catalog.engine_for(name)
        surfaces = catalog.surfaces(name, can_translate(engine))
        card = {"id": name, "object": "model", "created": created, "owned_by": "openasr", "engine": engine}
        data.append({**card, "surfaces": list(surfaces)})
    return {"object": "list", "data": data}
