"""The provider layer's shared vocabulary: requests, streamed events, structured replies, results."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from pydantic import BaseModel

Clock = Callable[[], float]


@dataclass(frozen=True)
class StructuredRepair:
    """A second structured turn: the model's previous document, what was wrong with it, and the request to fix
    it. Each provider replays it its own way (GigaChat: its function call and a `function` result)."""

    previous: dict[str, Any] | str
    problems: str
    prompt: str


@dataclass(frozen=True)
class LLMRequest:
    messages: list[dict[str, str]]
    temperature: float
    max_tokens: int
    repair: StructuredRepair | None = None
    """Set on a structured repair turn; appended after `messages` by the provider."""
    background: bool = False
    """A bulk job (resume intake): it waits for a provider slot behind every chat that waits for one."""


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
    """For GigaChat functions: JSON Schema with its bounds, optional fields as their plain type."""
    strict_schema: dict[str, Any] | None = None
    """For OpenAI-style strict structured output: optional fields as `[type, "null"]`, numeric and list bounds;
    `schema` when None."""

    @classmethod
    def from_model(cls, name: str, description: str, model: type[BaseModel]) -> StructuredSpec:
        return cls(name, description, portable_schema(model), portable_schema(model, dialect="strict"))


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
_BOUNDS = {
    # GigaChat's function parameters are JSON Schema: every bound a model declares is sent.
    "gigachat": frozenset(
        {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems"}
    ),
    # OpenAI's strict mode (which OpenRouter passes on) accepts numeric and list bounds, not string lengths.
    "strict": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems"}),
}
SchemaDialect = Literal["gigachat", "strict"]


def portable_schema(model: type[BaseModel], dialect: SchemaDialect = "gigachat") -> dict[str, Any]:
    """The model's JSON schema as a provider accepts it: references inlined, every property required, no
    titles or defaults, with the bounds the dialect accepts. Optional fields are their plain type for
    GigaChat, and keep their null branch (`["string", "null"]`) for strict mode, where a required field can
    only be absent by being null. The reply is still validated against the model itself."""
    full = model.model_json_schema()
    definitions: dict[str, Any] = full.get("$defs", {})
    keep = _SCHEMA_KEYWORDS | _BOUNDS[dialect]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        return definitions[node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node

    def convert(node: dict[str, Any]) -> dict[str, Any]:
        description = node.get("description")
        node = resolve(node)
        nullable = False
        if "anyOf" in node:
            options = node["anyOf"]
            concrete = [option for option in options if option.get("type") != "null"]
            if len(concrete) == 1:
                nullable = len(concrete) < len(options)
                node = {**resolve(concrete[0]), **({"description": description} if description else {})}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "properties":
                out[key] = {name: convert(sub) for name, sub in value.items()}
            elif key == "items":
                out[key] = convert(value)
            elif key in keep:
                out[key] = value
        if description and "description" not in out:
            out["description"] = description
        if out.get("type") == "object":
            out["required"] = list(out.get("properties", {}))
        if nullable and dialect == "strict" and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
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
