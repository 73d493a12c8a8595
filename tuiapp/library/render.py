"""Sandboxed Jinja rendering of prompt templates.

Two layers keep a template away from Python internals: a static check when the body is parsed
(no ``_private`` attribute or key, no ``self``, no include/import/extends), then Jinja's
``ImmutableSandboxedEnvironment`` at render time for whatever only shows up with real values
(``x|attr(name)``, ``"{0.__class__}".format(x)``). The default globals that are functions with a
``__globals__`` (lipsum, cycler, joiner) are removed; huge ``*``/``**`` results and runaway
output are refused. Every failure is one ``BadInput`` whose message names the template.
"""

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tuiapp.errors import BadInput

MAX_OUTPUT = 1_000_000  # characters; a prompt longer than this is a bug or an attack
MAX_REPEAT = 100_000  # largest str/list a template may build with * (or int with **)
FORBIDDEN_NAMES = {"self"}  # Jinja's TemplateReference: a path to the render context
SAFE_GLOBALS = {"range", "dict", "namespace"}


class TemplateVariableError(BadInput):
    """Variables given to a template do not match the ones its body uses."""


class _Env(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 100:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    if len(seq) * n > MAX_REPEAT:
                        raise SecurityError("repeated sequence too long")
        return super().call_binop(context, operator, left, right)


def _make_env() -> _Env:
    # trim/lstrip blocks: `{% if %}` lines leave no stray blank lines in prompts (as HF chat
    # templates do); the trailing newline is kept so prompts are byte-exact.
    env = _Env(
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals = {k: v for k, v in env.globals.items() if k in SAFE_GLOBALS}
    return env


ENV = _make_env()


def _refused(label: str, why: str) -> BadInput:
    return BadInput(f"{label}: template refused: {why}")


def _static_check(ast: nodes.Template, label: str) -> None:
    for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        raise _refused(label, f"'{type(node).__name__.lower()}' is not allowed")
    for attr in ast.find_all(nodes.Getattr):
        if attr.attr.startswith("_"):
            raise _refused(label, f"access to '{attr.attr}' is not allowed")
    for item in ast.find_all(nodes.Getitem):
        key = item.arg
        if isinstance(key, nodes.Const) and isinstance(key.value, str) and key.value[:1] == "_":
            raise _refused(label, f"access to '{key.value}' is not allowed")
    for name in ast.find_all(nodes.Name):
        if name.name in FORBIDDEN_NAMES or name.name.startswith("_"):
            raise _refused(label, f"the name '{name.name}' is not allowed")
    for flt in ast.find_all(nodes.Filter):  # x|attr('__class__'): refused when stored, too
        arg = flt.args[0] if flt.args else None
        if flt.name == "attr" and isinstance(arg, nodes.Const) and str(arg.value)[:1] == "_":
            raise _refused(label, f"access to '{arg.value}' is not allowed")


@lru_cache(maxsize=256)
def _parse(body: str) -> tuple[nodes.Template, frozenset[str]]:
    ast = ENV.parse(body)
    return ast, frozenset(meta.find_undeclared_variables(ast))


def parse(body: str, label: str = "Template") -> frozenset[str]:
    """Check a body's syntax and safety; return the variables it uses."""
    try:
        ast, names = _parse(body)
    except TemplateSyntaxError as exc:
        raise BadInput(f"{label}: syntax error on line {exc.lineno}: {exc.message}") from None
    _static_check(ast, label)
    return names


def variables_of(body: str) -> set[str]:
    """The variables a body needs from its caller (loop and ``set`` names excluded)."""
    return set(parse(body))


def check_variables(body: str, given: dict[str, Any] | set[str], label: str = "Template") -> None:
    """Raise one error listing every missing and every unknown (given but unused) variable."""
    needed = parse(body, label)
    missing = sorted(needed - set(given))
    unknown = sorted(set(given) - needed)
    problems = []
    if missing:
        problems.append("missing variables: " + ", ".join(missing))
    if unknown:
        problems.append("unknown variables: " + ", ".join(unknown))
    if problems:
        raise TemplateVariableError(f"{label}: " + "; ".join(problems))


@lru_cache(maxsize=256)
def _compile(body: str) -> Any:
    return ENV.from_string(body)


def render(
    body: str, variables: dict[str, Any], *, label: str = "Template", allow_unknown: bool = False
) -> str:
    """Render ``body`` with exactly ``variables`` (extra ones allowed with ``allow_unknown``)."""
    if allow_unknown:
        needed = parse(body, label)
        check_variables(body, {k: v for k, v in variables.items() if k in needed}, label)
    else:
        check_variables(body, variables, label)
    try:
        chunks, size = [], 0
        for chunk in _compile(body).generate(**variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise _refused(label, f"output longer than {MAX_OUTPUT:,} characters")
            chunks.append(chunk)
    except (SecurityError, OverflowError) as exc:  # OverflowError: the sandbox's range cap
        raise _refused(label, str(exc)) from None
    except UndefinedError as exc:
        raise BadInput(f"{label}: {exc.message}") from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise BadInput(f"{label}: render failed: {exc}") from None
    return "".join(chunks)
