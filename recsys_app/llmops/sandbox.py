"""The Jinja sandbox prompt versions render in, with every way a short template can ask for a
lot of memory or time bounded: `{{ "x" * 10**10 }}` is refused before it allocates anything.

Jinja's own sandbox stops templates reaching Python internals, not exhausting the process, and
its optimizer folds constant expressions while compiling, so such a line used to allocate in the
playground before a single variable was read. Here:

- `*`, `**`, `+`, `//` and `%` are intercepted, which also keeps the optimizer from folding them
  (`nodes.BinExpr.as_const` raises `Impossible` for intercepted operators), and `call_binop`
  refuses a result larger than `LLM_TEMPLATE_MAX_OUTPUT` characters or items before computing
  it, an exponent over `MAX_POWER` and integers over `MAX_INT_BITS`;
- `~` and the filters and string methods that can grow a value (`center`, `join`, `replace`,
  `format`, ...) are checked the same way; other string methods that grow text are refused;
- every loop goes through a guard that counts iterations (`MAX_ITERATIONS` per render; Jinja's
  `range` alone stops at `MAX_RANGE`), and loops, calls (macros too) and outputs check the
  render's deadline (`LLM_TEMPLATE_MAX_MS`);
- `render_bounded` stops when the output passes `LLM_TEMPLATE_MAX_OUTPUT` characters, and the
  characters printed by expressions in all (inside `{% set %}` blocks and macros too) may not
  pass `WORK_FACTOR` times that;
- the template may mutate nothing (`ImmutableSandboxedEnvironment`).
"""

from __future__ import annotations

import functools
import inspect
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from jinja2 import StrictUndefined, Template, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_POWER = 100  # largest exponent `**` takes
MAX_INT_BITS = 4096  # largest integer `*` and `**` make (about 1,200 digits)
MAX_ITERATIONS = MAX_RANGE // 10  # loop iterations a render may take in all, nested loops included
WORK_FACTOR = 10  # characters printed by expressions (blocks and macros too) per character of output
# String methods that never make text much longer than it is; the growing ones allowed are
# checked in `call`, format/format_map in `wrap_str_format`, every other one is refused.
STR_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha", "isascii", "isdecimal",
    "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "lower",
    "lstrip", "partition", "removeprefix", "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip",
    "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
})  # fmt: skip
STR_ALLOWED = STR_METHODS | {"center", "ljust", "rjust", "zfill", "join", "replace"}
_PRINTF_WIDTH = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateLimitError(SecurityError):
    """A template asked for more memory or time than a prompt may take."""


@dataclass
class _Budget:
    deadline: float
    seconds: float
    iterations: int = 0
    work: int = 0


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _max_output() -> int:
    return int(settings.LLM_TEMPLATE_MAX_OUTPUT)


def _tick() -> _Budget | None:
    """The current render's budget, after checking its deadline (None while compiling)."""
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TemplateLimitError(f"rendering took longer than {budget.seconds:g} s (LLM_TEMPLATE_MAX_MS)")
    return budget


def weight(value: Any, limit: int) -> int:
    """About how many characters `value` prints as; counting stops once past `limit`."""
    total, pending = 0, [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, dict):
            total += 2 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 * len(item)
            pending.extend(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
    return total


def _refuse_over(size: int, what: str) -> None:
    if size > _max_output():
        raise TemplateLimitError(
            f"{what} would make about {size:,} characters, over the {_max_output():,} a prompt may hold "
            f"(LLM_TEMPLATE_MAX_OUTPUT)"
        )


def _check_int(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _max_output():
        raise TemplateLimitError(f"{what} {value:,} is over the {_max_output():,} a prompt may hold")


def _check_printf(fmt: str, values: Any, what: str) -> None:
    """`fmt % values`: every width and precision bounded, each value printed at most once per spec."""
    specs = _PRINTF_WIDTH.findall(fmt)
    for width, precision in specs:
        for number in (width, precision):
            if number == "*":
                raise TemplateLimitError(f"{what}: '*' widths are not allowed in prompt templates")
            _check_int(int(number or 0), f"{what}: width")
    _refuse_over(len(fmt) + len(specs) * weight(values, _max_output()), what)


def _check_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    fields = list(string.Formatter().parse(fmt))
    for _, _, spec, _ in fields:
        if spec and "{" in spec:
            raise TemplateLimitError("str.format: nested fields in a format spec are not allowed in prompt templates")
        for number in re.findall(r"\d+", spec or ""):
            _check_int(int(number), "str.format: width")
    _refuse_over(len(fmt) + len(fields) * weight((args, kwargs), _max_output()), "str.format")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    limit = _max_output()
    numbers = all(isinstance(side, int | float) for side in (left, right))
    if operator == "**" and numbers:
        if abs(right) > MAX_POWER:
            raise TemplateLimitError(f"'**' with an exponent over {MAX_POWER} is not allowed in prompt templates")
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > MAX_INT_BITS:
            raise TemplateLimitError(f"'**' would make an integer over {MAX_INT_BITS} bits")
    elif operator == "*" and isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError(f"'*' would make an integer over {MAX_INT_BITS} bits")
    elif operator == "*":
        count, sequence = (left, right) if isinstance(left, int) else (right, left)
        if isinstance(count, int) and isinstance(sequence, str | list | tuple):
            _refuse_over(max(count, 0) * weight(sequence, limit), "'*'")
    elif operator == "+" and not numbers:
        _refuse_over(weight(left, limit) + weight(right, limit), "'+'")
    elif operator == "%" and isinstance(left, str):
        _check_printf(left, right, "'%'")


def _check_str_method(text: str, name: str, args: tuple[Any, ...], what: str = "str.") -> tuple[Any, ...]:
    """Refuse a growing string method whose result would be too long; returns the arguments
    (an iterable given to join is read into a list first, to be measured)."""
    if name in ("center", "ljust", "rjust", "zfill") and args:
        _check_int(args[0], f"{what}{name}: width")
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        _refuse_over(len(text) + (text.count(old) if old else len(text) + 1) * len(new), f"{what}{name}")
    elif name == "join" and args:
        items = list(args[0])
        _refuse_over(weight(items, _max_output()) + len(text) * len(items), f"{what}{name}")
        return (items, *args[1:])
    return args


def _check_filter(name: str, arguments: dict[str, Any]) -> None:
    """Size checks of the builtin filters that can grow a value, by their parameter names."""
    limit = _max_output()
    sizes = {"center": "width", "indent": "width", "batch": "linecount", "slice": "slices", "tojson": "indent"}
    if name in sizes:
        _check_int(arguments.get(sizes[name]), f"|{name}: {sizes[name]}")
    if name == "indent":
        width = arguments.get("width", 4)
        lines = str(arguments.get("s", "")).count("\n") + 1
        _refuse_over(weight(arguments.get("s"), limit) + lines * (width if isinstance(width, int) else len(width)),
                     "|indent")  # fmt: skip
    elif name == "wordwrap":
        text, width = str(arguments.get("s", "")), max(int(arguments.get("width") or 1), 1)
        lines = len(text) // width + text.count("\n") + 1
        _refuse_over(len(text) + lines * len(str(arguments.get("wrapstring") or "\n")), "|wordwrap")
    elif name == "replace":
        _check_str_method(str(arguments.get("s", "")), "replace", (arguments.get("old"), arguments.get("new")), "|")
    elif name == "join":
        items = arguments.get("value", [])
        _refuse_over(weight(items, limit) + len(str(arguments.get("d", ""))) * len(items), "|join")
    elif name == "sum":
        _refuse_over(weight(arguments.get("iterable"), limit), "|sum")
    elif name == "format":
        _check_printf(str(arguments.get("value", "")), (arguments.get("args"), arguments.get("kwargs")), "|format")


def _guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(function)
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0
    collects = name in ("join", "sum")  # measured over their items, so generators are read first

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if collects and len(args) > skip and not isinstance(args[skip], str | list | tuple | dict):
            args = (*args[:skip], list(args[skip]), *args[skip + 1 :])
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return function(*args, **kwargs)  # let the filter name its own argument error
        _check_filter(name, dict(bound.arguments))
        result = function(*args, **kwargs)
        _refuse_over(weight(result, _max_output()), f"|{name}")
        return result

    return guarded


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        budget = _tick()
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_ITERATIONS:
                raise TemplateLimitError(f"loops ran more than {MAX_ITERATIONS:,} times in all")
        yield item


def _concat(parts: list[Any]) -> str:
    _tick()
    texts = [str(part) for part in parts]
    _refuse_over(sum(map(len, texts)), "'~'")
    return "".join(texts)


def _count_output(value: Any) -> Any:
    """Every expression printed, in the output, a `{% set %}` block or a macro, counts against
    the render's work (what `{% for %}{{ big }}{% endfor %}` inside a block would pile up)."""
    budget = _tick()
    if budget is not None:
        budget.work += weight(value, WORK_FACTOR * _max_output())
        if budget.work > WORK_FACTOR * _max_output():
            raise TemplateLimitError(f"expressions printed more than {WORK_FACTOR * _max_output():,} characters")
    return value


class _Guards(NodeTransformer):
    """Loops iterate through `_loop_guard`; `a ~ b` goes through `_concat`."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_loop_guard", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        parts = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(parts, "_concat", [], [], None, None, lineno=node.lineno)


class PromptSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "//", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                         finalize=_count_output)  # fmt: skip
        self.filters = {name: _guarded_filter(name, function) for name, function in self.filters.items()}
        self.filters.update(_loop_guard=_loop_guard, _concat=_concat)
        del self.globals["lipsum"]  # n paragraphs of filler: nothing a prompt needs

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            args = _check_str_method(owner, getattr(__obj, "__name__", ""), args)
        result = super().call(__context, __obj, *args, **kwargs)
        _refuse_over(weight(result, _max_output()), f"calling {getattr(__obj, '__name__', 'a function')}")
        return result

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and callable(value) and attr not in STR_ALLOWED:
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        is_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            _tick()
            _check_format(value.__self__, args, args[0] if is_map and args else kwargs)
            return wrapped(*args, **kwargs)

        return checked

    def compile_guarded(self, source: str) -> Template:
        """The template with its loops and concatenations going through the guards."""
        limit = int(settings.LLM_TEMPLATE_MAX_CHARS)
        if len(source) > limit:
            raise TemplateLimitError(f"{len(source):,} characters, over the {limit:,} allowed (LLM_TEMPLATE_MAX_CHARS)")
        return self.from_string(_Guards().visit(self.parse(source)))


def render_bounded(template: Template, variables: dict[str, Any]) -> str:
    """The template's text, or TemplateLimitError once it passes the output, time or work bounds."""
    seconds = float(settings.LLM_TEMPLATE_MAX_MS) / 1000
    token = _budget.set(_Budget(deadline=time.monotonic() + seconds, seconds=seconds))
    try:
        chunks, size = [], 0
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > _max_output():
                limit = f"{_max_output():,} characters (LLM_TEMPLATE_MAX_OUTPUT)"
                raise TemplateLimitError(f"the output is longer than {limit}")
            _tick()
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        _budget.reset(token)
