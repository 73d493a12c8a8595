"""Sandboxed rendering: variables checked both ways, syntax errors located, escapes refused."""

import pytest

from tuiapp.errors import BadInput
from tuiapp.library.render import (
    TemplateVariableError,
    check_variables,
    render,
    variables_of,
)

# Server-side template injection payloads (Jinja SSTI cheat sheets) and a few resource attacks.
PAYLOADS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ self._TemplateReference__context }}",
    "{{ self }}",
    "{{ x.__dict__ }}",
    "{{ ''['__class__'] }}",
    "{{ x|attr('__class__') }}",
    "{{ (x|attr('__class__')).__base__ }}",
    "{{ x[key] }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ x.append(1) }}",
    "{{ dict.mro() }}",
    "{{ range.__self__ }}",
    "{% include 'secrets.txt' %}",
    "{% import 'macros' as m %}",
    "{% extends 'base' %}",
    "{{ range(10**9)|list }}",
    "{{ 'a' * 100000000 }}",
    "{{ 9 ** 999999 }}",
    "{% for i in range(100000) %}{% for j in range(100) %}xxxxxxxxxx{% endfor %}{% endfor %}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payloads_are_refused(payload):
    with pytest.raises(BadInput) as info:
        needed = variables_of(payload)
        # Give every variable the payload could want, the way an attacker would.
        render(payload, {n: ([1] if n == "x" else "__class__") for n in needed})
    message = str(info.value)
    assert "refused" in message or "Range too big" in message, message
    assert "<class" not in message and "built-in" not in message


@pytest.mark.parametrize("payload", ["{{ config }}", "{{ request.application }}"])
def test_names_of_other_frameworks_are_just_variables(payload):
    # There is no config/request object here: without a value it is a missing variable,
    # and with one it renders that plain value and nothing more.
    with pytest.raises(TemplateVariableError, match="missing variables"):
        render(payload, {})
    assert render("{{ config }}", {"config": "x"}) == "x"


def test_render_fills_variables_and_keeps_text_exact():
    body = "Review: {{ review }}\n{% if hint %}Hint: {{ hint }}\n{% endif %}Sentiment:"
    assert render(body, {"review": "ok", "hint": ""}) == "Review: ok\nSentiment:"
    assert render(body, {"review": "ok", "hint": "h"}) == "Review: ok\nHint: h\nSentiment:"
    assert render("a {{ x }}\n", {"x": 1}) == "a 1\n"  # trailing newline kept
    assert render("{% for e in items %}- {{ e.q }}\n{% endfor %}", {"items": [{"q": "a"}]}) == (
        "- a\n"
    )


def test_variables_of_ignores_loop_and_set_names():
    body = "{% set n = 2 %}{% for e in items %}{{ e }}{{ n }}{% endfor %}{{ query }}"
    assert variables_of(body) == {"items", "query"}


def test_one_error_lists_missing_and_unknown_variables():
    body = "{{ a }} {{ b }} {{ keep }}"
    with pytest.raises(TemplateVariableError) as info:
        check_variables(body, {"keep": 1, "c": 2, "d": 3}, label="Template 'x' v3")
    assert str(info.value) == ("Template 'x' v3: missing variables: a, b; unknown variables: c, d")
    with pytest.raises(TemplateVariableError, match="unknown variables: c$"):
        render("{{ a }}", {"a": 1, "c": 2})
    assert render("{{ a }}", {"a": 1, "c": 2}, allow_unknown=True) == "1"


def test_missing_attribute_at_render_time_is_one_clear_error():
    with pytest.raises(BadInput, match="has no attribute 'q'"):
        render("{{ e.q }}", {"e": {}})


@pytest.mark.parametrize(
    "body, line",
    [("{{ a }", 1), ("line one\n{% if a %}\nno end", 3), ("ok\n{{ a b }}", 2)],
)
def test_syntax_errors_name_the_line(body, line):
    with pytest.raises(BadInput, match=rf"^T: syntax error on line {line}: "):
        variables_of_or_render(body)


def variables_of_or_render(body):
    return render(body, {"a": 1}, label="T")


@pytest.mark.parametrize("payload", ["{{ ''|attr('__class__') }}", "{{ x|attr('_secret') }}"])
def test_attr_of_a_private_name_is_refused_when_the_template_is_stored(payload):
    with pytest.raises(BadInput, match="refused: access to '_"):
        variables_of(payload)  # what `prompts add` checks, before any render
    assert variables_of("{{ x|attr('upper') }}") == {"x"}
