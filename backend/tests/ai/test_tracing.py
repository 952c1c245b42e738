"""OpenTelemetry spans of the chain: one per turn, one per provider attempt, with GenAI attributes; read with
the SDK's in-memory exporter (the chain runs against the fake providers over real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from app.ai.chain import ProviderChain
from app.ai.errors import AllProvidersFailed
from app.ai.factory import build_chain
from app.ai.telemetry import tracer_provider_from
from app.ai.types import LLMRequest
from app.core.config import Settings
from tests.fake_upstream import DEFAULT_GIGACHAT_MODEL, DEFAULT_OPENROUTER_MODEL, FakeUpstream, Fault
from tests.utils.app import Database, fake_settings

REQUEST = LLMRequest([{"role": "user", "content": "Оцените кандидата"}], 0.7, 200)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
async def traced(exporter: InMemorySpanExporter, fake: FakeUpstream, database: Database) -> Any:
    chains: list[ProviderChain] = []

    def build(**overrides: Any) -> ProviderChain:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        chain = build_chain(fake_settings(fake, database, **overrides), tracer=provider.get_tracer("test"))
        chains.append(chain)
        return chain

    yield build
    fake.reset()
    for chain in chains:
        await chain.aclose()


def split(spans: tuple[ReadableSpan, ...]) -> tuple[ReadableSpan, list[ReadableSpan]]:
    turns = [s for s in spans if s.name == "chat"]
    assert len(turns) == 1, [s.name for s in spans]
    turn = turns[0]
    attempts = sorted((s for s in spans if s is not turn), key=lambda s: s.start_time or 0)
    assert all(s.parent is not None and s.parent.span_id == turn.context.span_id for s in attempts)
    return turn, attempts


async def test_a_retried_turn_has_one_span_per_attempt_with_genai_attributes(
    traced: Any, exporter: InMemorySpanExporter, fake: FakeUpstream
) -> None:
    chain = traced()
    fake.gigachat.push(Fault.status(500))

    result = await chain.complete(REQUEST)

    assert result.provider == "gigachat"
    turn, (failed, retry) = split(exporter.get_finished_spans())
    assert turn.attributes is not None and failed.attributes is not None and retry.attributes is not None
    assert turn.attributes["gen_ai.operation.name"] == "chat"
    assert turn.attributes["gen_ai.provider.name"] == "gigachat"
    assert turn.attributes["nexus.ai.retried"] == 1 and turn.attributes["nexus.ai.hedged"] is False
    assert failed.name == f"chat {chain.slots[0].provider.model}"
    assert failed.attributes["gen_ai.provider.name"] == "gigachat"
    assert failed.attributes["gen_ai.request.model"] == chain.slots[0].provider.model
    assert failed.attributes["error.type"] == "server" and failed.status.status_code is StatusCode.ERROR
    assert retry.attributes["nexus.ai.retry"] is True and "error.type" not in retry.attributes
    assert retry.attributes["gen_ai.response.model"] == DEFAULT_GIGACHAT_MODEL
    assert int(retry.attributes["gen_ai.usage.input_tokens"]) > 0  # type: ignore[arg-type]
    assert int(retry.attributes["gen_ai.usage.output_tokens"]) > 0  # type: ignore[arg-type]


async def test_a_hedged_turn_marks_the_hedge_and_the_loser(
    traced: Any, exporter: InMemorySpanExporter, fake: FakeUpstream
) -> None:
    chain = traced(LLM_FIRST_TOKEN_TIMEOUT=30.0, LLM_HEDGE_FOREIGN_AFTER=0.2)
    fake.gigachat.push(Fault.silent_stream(60.0))

    result = await chain.complete(REQUEST)

    assert result.provider == "openrouter"
    turn, (gigachat, openrouter) = split(exporter.get_finished_spans())
    assert turn.attributes is not None and gigachat.attributes is not None and openrouter.attributes is not None
    assert turn.attributes["nexus.ai.hedged"] is True and turn.attributes["gen_ai.provider.name"] == "openrouter"
    assert gigachat.attributes["nexus.ai.hedged"] is True and gigachat.attributes["nexus.ai.lost_race"] is True
    assert gigachat.attributes["error.type"] == "lost_race"
    assert openrouter.attributes["nexus.ai.hedge"] is True
    assert openrouter.attributes["gen_ai.response.model"] == DEFAULT_OPENROUTER_MODEL


async def test_a_failed_turn_is_an_error_span(traced: Any, exporter: InMemorySpanExporter, fake: FakeUpstream) -> None:
    chain = traced()
    fake.gigachat.set_default(Fault.status(402))
    fake.openrouter.set_default(Fault.status(401))

    with pytest.raises(AllProvidersFailed):
        await chain.complete(REQUEST)

    turn, attempts = split(exporter.get_finished_spans())
    assert turn.status.status_code is StatusCode.ERROR
    assert turn.attributes is not None and turn.attributes["error.type"] == "auth"
    assert [s.attributes["error.type"] for s in attempts if s.attributes] == ["payment", "auth"]


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_tracing_is_off_unless_an_exporter_is_configured() -> None:
    assert tracer_provider_from(settings()) is None
    assert tracer_provider_from(settings(OTEL_TRACES_EXPORTER="none")) is None
    assert settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318").trace_exporters == ["otlp"]
    for configured in (settings(OTEL_TRACES_EXPORTER="console"), settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://x")):
        provider = tracer_provider_from(configured)
        assert isinstance(provider, TracerProvider)
        provider.shutdown()
