"""The reasoning table (cerebra/dialects/reasoning.py) and chat completions' reasoning through every
provider: reasoning_effort out as Anthropic thinking / Gemini thinkingConfig, reasoning text back as
`reasoning_content` on the message and on stream deltas (the official openai SDK as client)."""

from __future__ import annotations

import openai
import pytest

from cerebra.dialects import reasoning
from cerebra.dialects.reasoning import Reasoning, ReasoningError
from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply


def test_the_table() -> None:
    assert reasoning.from_chat({"reasoning_effort": "high"}) == Reasoning(effort="high")
    assert reasoning.from_responses({"reasoning": {"effort": "low"}}) == Reasoning(effort="low")
    assert reasoning.from_anthropic({"thinking": {"type": "enabled", "budget_tokens": 5000}}) == Reasoning(
        budget=5000
    )
    assert reasoning.from_anthropic({"thinking": {"type": "disabled"}}) is None
    assert reasoning.from_anthropic(
        {"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}
    ) == (Reasoning(effort="xhigh"))
    # effort -> budget, budget -> effort
    assert Reasoning(effort="medium").budget_tokens() == 8192
    assert [Reasoning(budget=b).openai_effort() for b in (1024, 4095, 4096, 16383, 16384)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
    ]
    # Anthropic: the budget fits below max_tokens, and thinking stays off when it cannot
    assert reasoning.anthropic_thinking(Reasoning(effort="high"), 4096) == {
        "type": "enabled",
        "budget_tokens": 4095,
    }
    assert reasoning.anthropic_thinking(Reasoning(effort="low"), 1000) is None
    assert reasoning.anthropic_thinking(Reasoning(effort="none"), 8000) is None
    # Gemini 2.5 budgets, Gemini 3 levels
    assert reasoning.gemini_thinking_config(Reasoning(budget=5000), "gemini-2.5-pro") == {
        "thinkingBudget": 5000,
        "includeThoughts": True,
    }
    assert reasoning.gemini_thinking_config(Reasoning(effort="none"), "gemini-2.5-flash") == {
        "thinkingBudget": 0
    }
    assert reasoning.gemini_thinking_config(Reasoning(effort="high"), "gemini-3-pro-preview") == {
        "thinkingLevel": "high",
        "includeThoughts": True,
    }
    # the canonical request: an effort always, the budget when explicit
    assert reasoning.chat_fields(Reasoning(budget=3000)) == {
        "reasoning_effort": "low",
        "thinking": {"type": "enabled", "budget_tokens": 3000},
    }
    assert reasoning.openai_fields(
        {"model": "x", "thinking": {"type": "enabled", "budget_tokens": 20000}}
    ) == {
        "model": "x",
        "reasoning_effort": "high",
    }


def test_bad_values_name_their_parameter() -> None:
    with pytest.raises(ReasoningError) as caught:
        reasoning.from_chat({"reasoning_effort": "extreme"})
    assert caught.value.param == "reasoning_effort"
    with pytest.raises(ReasoningError) as caught:
        reasoning.from_anthropic({"thinking": {"type": "enabled", "budget_tokens": 10}})
    assert caught.value.param == "thinking.budget_tokens"


def sdk(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


async def test_chat_reasoning_effort_to_anthropic(gateway, fake_anthropic, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"c": {"deployments": [deployment(fake_anthropic, "claude-sonnet-4-0")]}})
    fake_anthropic.enqueue(Reply(text="42", reasoning="six sevens"))
    completion = sdk(server, cerebra_key).chat.completions.create(
        model="c",
        messages=[{"role": "user", "content": "6*7"}],
        reasoning_effort="low",
        max_completion_tokens=10000,
        temperature=0.3,
    )
    sent = fake_anthropic.last.json
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "temperature" not in sent  # Anthropic rejects temperature with thinking on
    message = completion.choices[0].message
    assert message.content == "42"
    assert message.model_extra["reasoning_content"] == "six sevens"  # type: ignore[index]

    fake_anthropic.enqueue(Reply(text="streamed", reasoning="thinking hard"))
    stream = sdk(server, cerebra_key).chat.completions.create(
        model="c", messages=[{"role": "user", "content": "6*7"}], reasoning_effort="medium", stream=True
    )
    thought = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in stream if c.choices
    )
    assert thought.strip() == "thinking hard"


async def test_chat_reasoning_effort_to_gemini(gateway, fake_gemini, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"g": {"deployments": [deployment(fake_gemini, "gemini-2.5-flash")]}})
    fake_gemini.enqueue(Reply(text="42", reasoning="multiply", usage=(10, 30), reasoning_tokens=20))
    completion = sdk(server, cerebra_key).chat.completions.create(
        model="g", messages=[{"role": "user", "content": "6*7"}], reasoning_effort="high"
    )
    config = fake_gemini.last.json["generationConfig"]["thinkingConfig"]
    assert config == {"thinkingBudget": 24576, "includeThoughts": True}
    assert completion.choices[0].message.content == "42"
    assert completion.choices[0].message.model_extra["reasoning_content"] == "multiply"  # type: ignore[index]
    assert completion.usage is not None and completion.usage.completion_tokens == 30  # thoughts are output

    fake_gemini.enqueue(Reply(text="streamed", reasoning="multiply again"))
    stream = sdk(server, cerebra_key).chat.completions.create(
        model="g", messages=[{"role": "user", "content": "6*7"}], reasoning_effort="low", stream=True
    )
    chunks = [c for c in stream if c.choices]
    thought = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks)
    assert thought == "multiply again"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "streamed"


async def test_chat_thinking_to_openai_becomes_reasoning_effort(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"o": {"deployments": [deployment(fake_openai, "o4-mini")]}})
    fake_openai.enqueue(Reply(text="42", reasoning="vllm-style reasoning"))
    completion = sdk(server, cerebra_key).chat.completions.create(
        model="o",
        messages=[{"role": "user", "content": "6*7"}],
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 9000}},
    )
    sent = fake_openai.last.json
    assert sent["reasoning_effort"] == "medium" and "thinking" not in sent
    assert completion.choices[0].message.model_extra["reasoning_content"] == "vllm-style reasoning"  # type: ignore[index]
