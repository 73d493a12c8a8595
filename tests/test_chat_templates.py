"""A template run in the chat (the TUI's form and ``tuiapp chat --template``): the user's turn is
the rendered body, the reply streams from the whole few-shot prompt, with the conversation's
adapters, and records the mix it used."""

from pathlib import Path

import pytest

from tests.helpers.adapter_records import register_adapter
from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.chat.history import History
from tuiapp.chat.models import ModelRegistry
from tuiapp.chat.service import ChatService
from tuiapp.chat.templates import FilledTemplate
from tuiapp.library.seed import open_library
from tuiapp.library.templates import TemplateStore

pytestmark = pytest.mark.slow
GREEDY = SamplingParams(temperature=0.0, max_tokens=8, seed=0, repeat_penalty=1.0)
REVIEW = "The plot dragged and the ending made no sense."


@pytest.fixture
def service(home_with_model: Path, engine) -> ChatService:
    db = open_library()
    chat = ChatService(History(db), ModelRegistry(db), engine)
    chat.active = chat.resolve_model(str(home_with_model / "models" / "gemma-3-270m-q4_k_m.gguf"))
    return chat


def filled(service: ChatService) -> FilledTemplate:
    template = TemplateStore(service.history.db).get("sentiment")
    return FilledTemplate(template, {"review": REVIEW}, shots=2, set_name="sentiment")


def run(service: ChatService, adapters: list[tuple[str, float]]) -> tuple[str, dict]:
    form = filled(service)
    conv = service.new_template_conversation(form)
    if adapters:
        service.set_adapters(conv, adapters)
    reply, prompt = service.send_template(conv, form, GREEDY)
    text = "".join(reply)
    user, stored = service.history.messages(conv)
    assert user.content == f"Review: {REVIEW}\nSentiment:" and user.params["shots"] == 2
    assert stored.content == text and prompt.text.endswith(user.content)
    return text, stored.params


def test_a_template_reply_uses_and_records_the_conversations_adapters(service, home_with_model):
    model = home_with_model / "models" / "gemma-3-270m-q4_k_m.gguf"
    register_adapter(service.history.db, model, "loud", std=0.5, rank=8)
    base_text, base_params = run(service, [])
    assert "adapters" not in base_params
    text, params = run(service, [("loud", 1.0)])
    assert params["adapters"] == [{"name": "loud", "scale": 1.0}]
    assert text != base_text  # the adapter changed the answer: it was applied, not only noted
