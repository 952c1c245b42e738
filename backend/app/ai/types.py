"""The provider layer's shared vocabulary: requests, streamed events, structured replies, results."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pydantic import BaseModel

Clock = Callable[[], float]


@dataclass(frozen=True)
class LLMRequest:
    messages: list[dict[str, str]]
    temperature: float
    max_tokens: int


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finish:
    """The provider's closing event: what it says it served and why it stopped."""

    finish_reason: str | None
    model: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


ProviderEvent = Delta | Finish


@dataclass(frozen=True)
class StructuredSpec:
    """A JSON document the model must produce: a GigaChat function, an OpenAI-style `json_schema`."""

    name: str
    """Latin letters, digits and underscores: GigaChat rejects any other function name."""
    description: str
    schema: dict[str, Any]

    @classmethod
    def from_model(cls, name: str, description: str, model: type[BaseModel]) -> StructuredSpec:
        return cls(name, description, portable_schema(model))


@dataclass(frozen=True)
class StructuredReply:
    """What a provider returned for a structured request, before anyone checked it against the schema."""

    data: dict[str, Any] | str | None
    """Function-call arguments (GigaChat), or the message text that should hold the JSON document."""
    finish_reason: str | None
    model: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


_SCHEMA_KEYWORDS = frozenset({"type", "description", "enum", "items", "properties", "required"})


def portable_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema cut down to what both GigaChat functions and OpenAI-style structured output
    accept: references inlined, optional fields as their plain type, every property required, no titles,
    defaults or bounds. Bounds are still enforced: the reply is validated against the model itself."""
    full = model.model_json_schema()
    definitions: dict[str, Any] = full.get("$defs", {})

    def convert(node: dict[str, Any]) -> dict[str, Any]:
        description = node.get("description")
        if "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        if "anyOf" in node:
            concrete = [option for option in node["anyOf"] if option.get("type") != "null"]
            if len(concrete) == 1:
                node = {**concrete[0], **({"description": description} if description else {})}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "properties":
                out[key] = {name: convert(sub) for name, sub in value.items()}
            elif key == "items":
                out[key] = convert(value)
            elif key in _SCHEMA_KEYWORDS:
                out[key] = value
        if description and "description" not in out:
            out["description"] = description
        if out.get("type") == "object":
            out["required"] = list(out.get("properties", {}))
        return out

    return convert(full)


class Provider(Protocol):
    name: str
    title: str
    model: str
    max_concurrency: int

    def stream(self, request: LLMRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Yield deltas then one `Finish`; raise `ProviderError` on any failure."""
        ...

    async def complete_structured(self, request: LLMRequest, spec: StructuredSpec) -> StructuredReply:
        """Ask for one JSON document shaped by `spec` (not streamed); raise `ProviderError` on any failure."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Attempt:
    provider: str
    error: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"provider": self.provider, "error": self.error, "detail": self.detail}


@dataclass
class LLMResult:
    text: str
    provider: str
    model: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int
    ttft_ms: int | None
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class StructuredResult:
    """A structured reply that came back whole; whether it matches the schema is the caller's check."""

    data: dict[str, Any] | str
    provider: str
    model: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int
    attempts: list[Attempt] = field(default_factory=list)


@dataclass(frozen=True)
class Restart:
    """The chain switched provider after text was already sent: the client must discard it."""

    failed_provider: str
    reason: str


@dataclass(frozen=True)
class Done:
    result: LLMResult


ChainEvent = Delta | Restart | Done
