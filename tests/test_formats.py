import pytest

from tuiapp.chat.engine.formats import ChatTemplateFormat, TranscriptFormat, Turn, format_for
from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.errors import BadInput, EngineError

CHATML = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_transcript_format_renders_turns_and_ends_at_the_assistant_label():
    fmt = TranscriptFormat()
    turns = [Turn("user", "Hi there "), Turn("assistant", "Hello!"), Turn("user", "2+2?")]
    text = fmt.render(turns)
    assert text.endswith("User: Hi there\nAssistant: Hello!\nUser: 2+2?\nAssistant:")
    assert text.startswith(fmt.default_system)
    assert "\nUser:" in fmt.stop


def test_transcript_format_uses_the_conversation_system_text():
    text = TranscriptFormat().render([Turn("system", "Be terse."), Turn("user", "x")])
    assert text == "Be terse.\n\nUser: x\nAssistant:"


def test_chat_template_is_rendered_and_bos_not_doubled():
    fmt = format_for(CHATML, "<s>", "</s>")
    assert isinstance(fmt, ChatTemplateFormat)
    text = fmt.render([Turn("user", "ping")])
    assert text == "<|im_start|>user\nping<|im_end|>\n<|im_start|>assistant\n"


def test_no_template_means_transcript_never_llama2():
    assert isinstance(format_for(None, "<bos>", "<eos>"), TranscriptFormat)


def test_template_errors_and_sandbox_escapes_become_one_error():
    raising = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(EngineError, match="roles must alternate"):
        ChatTemplateFormat(raising).render([Turn("user", "x")])
    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(EngineError):
        ChatTemplateFormat(escape).render([Turn("user", "x")])


@pytest.mark.parametrize(
    "field, value",
    [("temperature", -0.1), ("top_p", 0), ("max_tokens", 0), ("min_p", 1.0), ("repeat_penalty", 0)],
)
def test_sampling_validation(field, value):
    with pytest.raises(BadInput, match=field):
        SamplingParams.from_dict({field: value})
