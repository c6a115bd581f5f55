"""Mutation operators: one small edit of a reference function, as source text.

:func:`generate` walks the answer regions (``### BEGIN SOLUTION`` .. ``### END SOLUTION``)
of the graded functions and classes of a solution file and applies every operator to
every node there. Each mutant is a single edit of the source text (``start``..``end``
replaced by ``text``), so the mutated file keeps its lines, and what the edit did can be
shown as the code before and after. The mutants come out in source order, the same on
every run; two edits that give the same program are one mutant (the first one made).

The kinds of edit (see :data:`KINDS`) are the kinds of slip students make: a comparison
flipped or its boundary moved, ``.detach()`` dropped or added, the wrong dim, a squeeze
or ``keepdim`` changed, a float32 cast of the inputs or the result, a sign flipped, one
arithmetic operator for another, mean for sum, off-by-one bounds of ranges and slices, an
in-place variant, a constant perturbed, a term or a statement dropped.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from course.singlesource import find_regions

KINDS = (
    "comparison",
    "boundary",
    "arithmetic",
    "dropped-term",
    "sign",
    "logic",
    "detach",
    "dim",
    "squeeze",
    "cast",
    "reduction",
    "off-by-one",
    "in-place",
    "constant",
    "dropped-statement",
)

_BOUNDARY = {ast.Lt: "<=", ast.LtE: "<", ast.Gt: ">=", ast.GtE: ">"}
_NEGATED = {
    ast.Lt: ">=",
    ast.LtE: ">",
    ast.Gt: "<=",
    ast.GtE: "<",
    ast.Eq: "!=",
    ast.NotEq: "==",
    ast.Is: "is not",
    ast.IsNot: "is",
    ast.In: "not in",
    ast.NotIn: "in",
}
_OP_TEXT = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Pow: "**",
    ast.Mod: "%",
    ast.BitAnd: "&",
    ast.BitOr: "|",
}
_ARITHMETIC = {"+": "-", "-": "+", "*": "/", "/": "*", "//": "/", "**": "*", "%": "//"}
_LOGIC_OPS = {"&": "|", "|": "&"}

# Methods and torch functions whose first dim-like argument (after the tensor) is a dim.
_DIM_FIRST = {
    "sum", "mean", "std", "var", "max", "min", "amax", "amin", "prod", "all", "any",
    "softmax", "log_softmax", "logsumexp", "argmax", "argmin", "cumsum", "cumprod",
    "squeeze", "unsqueeze", "gather", "count_nonzero", "median", "nansum", "nanmean",
    "flip", "roll", "cat", "stack", "expand_dims", "index_select",
}  # fmt: skip
_REDUCTIONS = {
    "sum", "mean", "std", "var", "max", "min", "amax", "amin", "prod", "all", "any",
    "logsumexp", "count_nonzero", "nansum", "nanmean", "norm",
}  # fmt: skip
_SWAPS = {
    "mean": "sum", "sum": "mean", "max": "min", "min": "max", "amax": "amin",
    "amin": "amax", "maximum": "minimum", "minimum": "maximum", "argmax": "argmin",
    "argmin": "argmax", "logical_and": "logical_or", "logical_or": "logical_and",
    "nansum": "nanmean", "nanmean": "nansum", "fmax": "fmin", "fmin": "fmax",
}  # fmt: skip
_IN_PLACE = {
    "add", "sub", "mul", "div", "clamp", "clip", "exp", "log", "neg", "abs", "sqrt",
    "pow", "masked_fill", "fill", "tanh", "sigmoid", "square", "addcmul",
    "lerp", "copy", "index_put", "scatter", "zero", "normal", "uniform",
}  # fmt: skip
_FACTORIES = {
    "tensor", "as_tensor", "zeros_like", "ones_like", "full_like", "empty_like",
    "rand_like", "randn_like",
}  # fmt: skip
_SHAPE_CALLS = {"squeeze", "unsqueeze", "flatten", "view", "reshape", "view_as", "reshape_as"}
_CASTS = {"float", "double", "to", "type_as", "half", "bfloat16"}


@dataclass(frozen=True)
class Mutant:
    """One edit of one solution file.

    Attributes:
        module: the module's id (``"m03"``).
        function: the graded function or class the edit is in (``"GaussianActor"``).
        qualname: the function or method (``"GaussianActor.act"``).
        kind: one of :data:`KINDS`.
        line: the line of the edit (1-based), for the report only.
        before: the code around the edit, as it is (whitespace collapsed).
        after: the same code after the edit.
        occurrence: 1 for the first mutant of this function with the same kind, before
            and after; 2 for the next, ... (so the identity needs no line numbers).
        start, end, text: the edit, as character offsets in the source and the new text.
    """

    module: str
    function: str
    qualname: str
    kind: str
    line: int
    before: str
    after: str
    occurrence: int
    start: int
    end: int
    text: str

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        """The identity that is stable across runs and unrelated edits of the file."""
        return (self.function, self.kind, self.before, self.after, self.occurrence)

    @property
    def id(self) -> str:
        """A short printable identity: ``m03.probability_ratio#detach:1``."""
        return f"{self.module}.{self.function}#{self.kind}:{self.before} -> {self.after}"

    def apply(self, source: str) -> str:
        return source[: self.start] + self.text + source[self.end :]


def squash(text: str) -> str:
    """``text`` on one line, runs of whitespace collapsed to one space and none kept inside
    brackets' edges or before ``,`` ``.`` (how identities compare: a reformatted line
    names the same mutant)."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"([(\[{]) ", r"\1", text)
    return re.sub(r" ([)\]},.])", r"\1", text)


# ----------------------------------------------------------------------------- edits


@dataclass(frozen=True)
class _Edit:
    kind: str
    start: int
    end: int
    text: str
    context: ast.AST | None


class _Source:
    """Character offsets of AST positions (which count UTF-8 bytes within a line)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:col].decode())

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (
            self.offset(node.lineno, node.col_offset),
            self.offset(node.end_lineno, node.end_col_offset),
        )

    def text(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.source[start:end]


def _int_value(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        return -node.operand.value
    return None


def _other_dim(value: int) -> int:
    return {-1: 0, 0: -1, 1: 0, -2: -1}.get(value, value - 1 if value > 0 else value + 1)


def _perturbed(value: float | int) -> list[float | int]:
    if type(value) is int:
        return [value + 1]
    if value == 0.0:
        return [0.1]
    if abs(value) < 1e-3:
        return [0.0, float(f"{value * 100:.12g}")]
    return [float(f"{value * 1.2:.12g}")]


def _call_name(node: ast.Call) -> tuple[str, bool] | None:
    """``(name, is_method)`` of ``x.name(...)`` / ``torch.name(...)`` / ``name(...)``."""
    func = node.func
    if isinstance(func, ast.Attribute):
        base = func.value
        is_torch = isinstance(base, ast.Name) and base.id in ("torch", "F", "math", "np")
        return func.attr, not is_torch
    if isinstance(func, ast.Name):
        return func.id, False
    return None


def _documented_integral(doc: str, name: str) -> bool:
    """Whether the docstring's entry for argument ``name`` says it holds integers or
    booleans (``action: (N,) int64``): casting such a tensor to float, or detaching it,
    is no slip a float check can see."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        match = re.match(rf"^(\s*){re.escape(name)}(\s*\(.*?\))?:", line)
        if not match:
            continue
        indent = len(match.group(1))
        entry = [line]
        for more in lines[i + 1 :]:
            if not more.strip() or len(more) - len(more.lstrip()) <= indent:
                break
            entry.append(more)
        return bool(re.search(r"\b(int|int64|long|bool|integers?|booleans?)\b", " ".join(entry)))
    return False


def _module_constants(tree: ast.Module) -> dict[str, float]:
    """Top-level ``NAME = number`` assignments (physical constants and the like)."""
    found: dict[str, float] = {}
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            value = _static(statement.value, found)
            if value is not None:
                found[statement.targets[0].id] = value
    return found


def _static(node: ast.AST, constants: dict[str, float]) -> float | None:
    """The value of a constant expression of numbers and module constants, or None."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _static(node.operand, constants)
        return None if value is None else -value
    if isinstance(node, ast.BinOp):
        left, right = _static(node.left, constants), _static(node.right, constants)
        if left is None or right is None:
            return None
        try:
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return left / right
            if isinstance(node.op, ast.Pow):
                return left**right
        except (ZeroDivisionError, OverflowError):
            return None
    return None


def _boolean(node: ast.AST) -> bool:
    """A comparison, or comparisons joined by ``&`` / ``|`` / ``~``: a bool tensor."""
    if isinstance(node, ast.Compare):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return _boolean(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd | ast.BitOr | ast.BitXor):
        return _boolean(node.left) and _boolean(node.right)
    return False


def _sign_free(node: ast.AST) -> bool:
    """Values whose negation is the same value: nan, zeros."""
    text = ast.unparse(node)
    if "nan" in text:
        return True
    return isinstance(node, ast.Call) and _call_name(node) in (
        ("zeros_like", False),
        ("zeros", False),
    )


def _full_reduction(node: ast.AST) -> bool:
    """``x.mean()``, ``x.sum()``, ``torch.max(x)``: a reduction over every dim (0-dim)."""
    if not isinstance(node, ast.Call) or node.keywords:
        return False
    named = _call_name(node)
    if named is None or named[0] not in _REDUCTIONS:
        return False
    return len(node.args) == (0 if named[1] else 1)


def _tensor_annotation(annotation: ast.AST | None) -> bool:
    return annotation is not None and ast.unparse(annotation) in ("torch.Tensor", "Tensor")


def _tensor_returns(annotation: ast.AST | None) -> list[bool] | bool:
    """Which parts of the returned value are tensors: True / False for a single value,
    a list of flags for a tuple."""
    if annotation is None:
        return False
    text = ast.unparse(annotation)
    if text in ("torch.Tensor", "Tensor"):
        return True
    if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value) == "tuple":
        parts = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else []
        return [_tensor_annotation(p) for p in parts]
    return False


class _Walker:
    """Applies the operators to the nodes of one answer region."""

    def __init__(
        self,
        src: _Source,
        func: ast.FunctionDef,
        first: int,
        last: int,
        constants: dict[str, float] | None = None,
    ) -> None:
        self.src = src
        self.func = func
        self.constants = constants or {}
        self.parameters = {
            a.arg for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]
        }
        self.first, self.last = first, last
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(func):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.claimed: set[int] = set()  # constants that a dim/off-by-one edit already covers
        self.edits: list[_Edit] = []

    def inside(self, node: ast.AST) -> bool:
        return (
            hasattr(node, "lineno")
            and self.first < node.lineno
            and (node.end_lineno or node.lineno) < self.last
        )

    def add(self, kind: str, node: ast.AST, text: str, context: ast.AST | None = None) -> None:
        start, end = self.src.span(node)
        self.edits.append(_Edit(kind, start, end, text, self.widen(context or node)))

    def insert(self, kind: str, offset: int, text: str, context: ast.AST | None) -> None:
        self.edits.append(_Edit(kind, offset, offset, text, context))

    def widen(self, node: ast.AST) -> ast.AST:
        """A short node's parent expression, so that ``0.5 -> 0.6`` reads ``0.5 * x ->
        0.6 * x`` (when that is short)."""
        if len(squash(self.t(node))) >= 12:
            return node
        parent = self.parents.get(node)
        if isinstance(parent, ast.keyword):
            parent = self.parents.get(parent)
        if isinstance(parent, ast.expr) and len(squash(self.t(parent))) <= 80:
            return parent
        return node

    def append_argument(self, kind: str, node: ast.Call, text: str) -> None:
        """Add ``text`` (``keepdim=True``) as the last argument of the call ``node``."""
        end = self.src.span(node)[1] - 1  # the closing parenthesis
        inside = self.src.source[self.src.span(node.func)[1] : end].strip()
        sep = "" if inside in ("(", "") else (" " if inside.endswith(",") else ", ")
        self.insert(kind, end, f"{sep}{text}", self.widen(node))

    def t(self, node: ast.AST) -> str:
        return self.src.text(node)

    def p(self, node: ast.AST) -> str:
        """The node's text, parenthesised unless it is an atom."""
        text = self.t(node)
        atoms = (ast.Name, ast.Constant, ast.Call, ast.Attribute, ast.Subscript)
        return text if isinstance(node, atoms) else f"({text})"

    # -- the walk

    def run(self) -> list[_Edit]:
        self.region_inserts()
        for node in ast.walk(self.func):
            if not self.inside(node):
                continue
            method = getattr(self, f"visit_{type(node).__name__}", None)
            if method is not None:
                method(node)
        return self.edits

    def region_inserts(self) -> None:
        """``x = x.float()`` and ``x = x.detach()`` for each tensor argument, at the top of
        the answer region."""
        body = [s for s in self.func.body if self.inside(s)]
        if not body:
            return
        first = body[0]
        indent = " " * first.col_offset
        at = self.src.offset(first.lineno, 0)
        doc = ast.get_docstring(self.func) or ""
        for arg in [*self.func.args.posonlyargs, *self.func.args.args, *self.func.args.kwonlyargs]:
            if not _tensor_annotation(arg.annotation) or _documented_integral(doc, arg.arg):
                continue
            for kind, call in (("cast", "float"), ("detach", "detach")):
                line = f"{indent}{arg.arg} = {arg.arg}.{call}()\n"
                self.insert(kind, at, line, None)

    def visit_Compare(self, node: ast.Compare) -> None:
        if len(node.ops) != 1:
            return
        op = type(node.ops[0])
        left_end = self.src.span(node.left)[1]
        right_start = self.src.span(node.comparators[0])[0]
        between = self.src.source[left_end:right_start]
        old = between.strip()
        lead = between[: len(between) - len(between.lstrip())]
        start = left_end + len(lead)
        end = start + len(old)
        right = node.comparators[0]
        if isinstance(right, ast.Constant) and right.value is None and op in (ast.Is, ast.IsNot):
            # ``x is None`` -> ``not x``: a falsy value (0.0, an empty batch) taken for None
            truth = f"not {self.p(node.left)}" if op is ast.Is else self.t(node.left)
            self.add("logic", node, truth)
        if op in _BOUNDARY:
            self.edits.append(_Edit("boundary", start, end, _BOUNDARY[op], self.widen(node)))
        if op in _NEGATED:
            self.edits.append(_Edit("comparison", start, end, _NEGATED[op], self.widen(node)))

    def _operator_span(self, node: ast.BinOp) -> tuple[int, int, str] | None:
        left_end = self.src.span(node.left)[1]
        right_start = self.src.span(node.right)[0]
        between = self.src.source[left_end:right_start]
        text = _OP_TEXT.get(type(node.op))
        if text is None:
            return None
        at = between.find(text)
        if at < 0:
            return None
        return left_end + at, left_end + at + len(text), text

    def visit_BinOp(self, node: ast.BinOp) -> None:
        found = self._operator_span(node)
        if found is None:
            return
        start, end, op = found
        context = self.widen(node)
        # A factor that is 1 (a constant such as a unit mass) makes * and / the same, and
        # dropping it changes nothing: such edits are equivalent by construction.
        left_one = _static(node.left, self.constants) == 1.0
        right_one = _static(node.right, self.constants) == 1.0
        unit = op in ("*", "/") and right_one
        if op in _ARITHMETIC and not unit:
            self.edits.append(_Edit("arithmetic", start, end, _ARITHMETIC[op], context))
        if op in _LOGIC_OPS:
            self.edits.append(_Edit("logic", start, end, _LOGIC_OPS[op], context))
        if op == "*":
            if not right_one:
                self.add("dropped-term", node, self.t(node.left))
            if not left_one:
                self.add("dropped-term", node, self.t(node.right))
        elif op in ("+", "&", "|"):
            self.add("dropped-term", node, self.t(node.left))
            self.add("dropped-term", node, self.t(node.right))
        elif op == "-":
            self.add("dropped-term", node, self.t(node.left))
            self.add("dropped-term", node, f"-{self.p(node.right)}")
            if not self._sign_blind(node):
                self.add("sign", node, f"{self.p(node.right)} - {self.p(node.left)}")
        elif op in ("/", "//") and not unit:
            self.add("dropped-term", node, self.t(node.left))

    def _sign_blind(self, node: ast.AST) -> bool:
        """Whether the value's sign is lost at once (``abs(x)``, ``x.abs()``, ``x ** 2``)."""
        parent = self.parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.attr in ("abs", "square"):
            return True
        if isinstance(parent, ast.Call) and _call_name(parent) in (("abs", False),):
            return True
        return (
            isinstance(parent, ast.BinOp)
            and isinstance(parent.op, ast.Pow)
            and parent.left is node
            and _int_value(parent.right) == 2
        )

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        text = _OP_TEXT.get(type(node.op))
        if text in _ARITHMETIC:
            start = self.src.span(node.target)[1]
            value_start = self.src.span(node.value)[0]
            between = self.src.source[start:value_start]
            at = between.find(text + "=")
            if at >= 0:
                op_start = start + at
                op_end = op_start + len(text)
                self.edits.append(_Edit("arithmetic", op_start, op_end, _ARITHMETIC[text], node))
        self.add("dropped-statement", node, "pass")

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if id(node) in self.claimed:
            return
        if isinstance(node.op, ast.USub):
            self.add("sign", node, self.t(node.operand))
        elif isinstance(node.op, ast.Not | ast.Invert):
            self.add("logic", node, self.t(node.operand))

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = " or " if isinstance(node.op, ast.And) else " and "
        self.add("logic", node, other.join(self.p(v) for v in node.values))

    def visit_If(self, node: ast.If) -> None:
        self.add("logic", node.test, f"not {self.p(node.test)}", node.test)

    def visit_While(self, node: ast.While) -> None:
        self.visit_If(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.visit_If(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call):
            self.add("dropped-statement", node, "pass")

    def visit_Break(self, node: ast.Break) -> None:
        self.add("dropped-statement", node, "pass")

    def visit_Continue(self, node: ast.Continue) -> None:
        self.add("dropped-statement", node, "pass")

    def visit_Assign(self, node: ast.Assign) -> None:
        # ``x = x OP y`` -> ``x OP= y``: the in-place variant (it changes a caller's tensor
        # when ``x`` is still an input).
        value = node.value
        if (
            len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(value, ast.BinOp)
            and isinstance(value.left, ast.Name)
            and value.left.id == node.targets[0].id
            and _OP_TEXT.get(type(value.op)) in ("+", "-", "*", "/")
            and self.is_input(value.left.id, node)
        ):
            op = _OP_TEXT[type(value.op)]
            self.add("in-place", node, f"{value.left.id} {op}= {self.t(value.right)}")

    def zero_dim(self, value: ast.AST) -> bool:
        """Whether ``value`` is a full reduction, or a name assigned only from one."""
        if _full_reduction(value):
            return True
        if not isinstance(value, ast.Name):
            return False
        sources = [
            sub.value
            for sub in ast.walk(self.func)
            if isinstance(sub, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == value.id for t in sub.targets)
        ]
        return bool(sources) and all(_full_reduction(v) for v in sources)

    def is_input(self, name: str, at: ast.AST) -> bool:
        """Whether ``name`` is still the caller's object at ``at``: a parameter (or
        ``self``) not assigned anew before that statement."""
        if name not in self.parameters:
            return False
        for sub in ast.walk(self.func):
            if (
                isinstance(sub, ast.Name)
                and sub.id == name
                and isinstance(sub.ctx, ast.Store)
                and (sub.lineno, sub.col_offset) < (at.lineno, at.col_offset)
            ):
                return False
        return True

    def used_later(self, name: str, at: ast.AST) -> bool:
        """Whether ``name`` is read after the node ``at`` (in source order)."""
        end = (at.end_lineno, at.end_col_offset)
        return any(
            isinstance(sub, ast.Name)
            and sub.id == name
            and isinstance(sub.ctx, ast.Load)
            and (sub.lineno, sub.col_offset) >= end
            for sub in ast.walk(self.func)
        )

    def has_in_place(self) -> bool:
        """Whether the function changes any tensor in place (``x += ...``, ``x[i] = ...``,
        ``x.add_(...)``): only then can a dropped ``.clone()`` matter."""
        for sub in ast.walk(self.func):
            if isinstance(sub, ast.AugAssign):
                return True
            if isinstance(sub, ast.Assign) and any(
                isinstance(t, ast.Subscript) for t in sub.targets
            ):
                return True
            if (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and sub.func.attr.endswith("_")
                and not sub.func.attr.startswith("_")
            ):
                return True
        return False

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is None:
            return
        flags = _tensor_returns(self.func.returns)
        if (
            self.func.returns is not None
            and ast.unparse(self.func.returns) == "float"
            and not _sign_free(node.value)
        ):
            self.add("sign", node.value, f"-{self.p(node.value)}", node)
        if isinstance(flags, bool):
            parts = [(node.value, flags)]
        elif isinstance(node.value, ast.Tuple) and len(node.value.elts) == len(flags):
            parts = list(zip(node.value.elts, flags, strict=True))
        else:
            parts = []
        for value, is_tensor in parts:
            if not is_tensor:
                continue
            inner = self.p(value)
            if not _sign_free(value):
                self.add("sign", value, f"-{inner}", node)
            if not _boolean(value):  # a bool tensor carries no gradient
                self.add("detach", value, f"{inner}.detach()", node)
            self.add("cast", value, f"{inner}.float()", node)
            if not self.zero_dim(value):  # a 0-dim result has nothing to squeeze
                self.add("squeeze", value, f"{inner}.squeeze()", node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        parent = self.parents.get(node)
        if (
            isinstance(parent, ast.Call)
            and parent.args
            and parent.args[0] is node
            and _call_name(parent) is not None
            and _call_name(parent)[0] in ("zeros_like", "ones_like", "empty_like")
        ):
            self._claim(node.slice)
            return  # only the row's shape is read
        index = node.slice
        elements = index.elts if isinstance(index, ast.Tuple) else [index]
        for element in elements:
            if isinstance(element, ast.Slice):
                for bound in (element.lower, element.upper):
                    if bound is not None:
                        self._off_by_one(bound, node)
            elif _int_value(element) is not None:
                self._off_by_one(element, node)

    def _off_by_one(self, bound: ast.AST, context: ast.AST) -> None:
        value = _int_value(bound)
        if value is not None:
            self._claim(bound)
            for new in (value + 1, value - 1):
                if new != value:
                    self.add("off-by-one", bound, str(new), context)
            return
        self.add("off-by-one", bound, f"{self.p(bound)} + 1", context)
        self.add("off-by-one", bound, f"{self.p(bound)} - 1", context)

    def _claim(self, node: ast.AST) -> None:
        for sub in ast.walk(node):
            self.claimed.add(id(sub))

    def visit_Call(self, node: ast.Call) -> None:
        named = _call_name(node)
        if named is None:
            return
        name, is_method = named
        func = node.func
        if name == "range" and not is_method and node.args:
            stop = node.args[0] if len(node.args) == 1 else node.args[1]
            self._off_by_one(stop, node)
            if len(node.args) >= 2:
                self._off_by_one(node.args[0], node)
            return
        if is_method and isinstance(func, ast.Attribute):
            self._method(node, func, name)
        elif isinstance(func, ast.Attribute) and name in _SWAPS:
            self._rename(node, func, _SWAPS[name])
        elif (
            isinstance(func, ast.Name) and name in ("float", "int", "bool") and len(node.args) == 1
        ):
            # a Python number or bool the docstring promises, left a tensor
            self.add("cast", node, self.t(node.args[0]))
        if isinstance(func, ast.Name) and name in ("max", "min"):
            other = "min" if name == "max" else "max"
            self.edits.append(_Edit("reduction", *self.src.span(func), other, self.widen(node)))
        self._dims(node, name, is_method)
        self._keywords(node, name)
        # (only these factories follow an input's dtype; the others make float32 already)
        if (
            not is_method
            and name in _FACTORIES
            and isinstance(func, ast.Attribute)
            and not any(k.arg == "dtype" for k in node.keywords)
        ):
            self.append_argument("cast", node, "dtype=torch.float32")

    def _rename(self, node: ast.Call, func: ast.Attribute, new: str) -> None:
        end = self.src.offset(func.end_lineno, func.end_col_offset)
        start = end - len(func.attr)
        self.edits.append(_Edit("reduction", start, end, new, self.widen(node)))

    def _method(self, node: ast.Call, func: ast.Attribute, name: str) -> None:
        receiver = self.t(func.value)
        parent = self.parents.get(node)
        to_number = (
            isinstance(parent, ast.Call)
            and isinstance(parent.func, ast.Name)
            and parent.func.id in ("float", "int", "bool")
        ) or (isinstance(parent, ast.Attribute) and parent.attr in ("item", "tolist"))
        if name == "detach" and not node.args and not to_number:
            self.add("detach", node, receiver)
        if name == "clone" and not node.args and self.has_in_place():
            self.add("in-place", node, receiver)
        if name in _SWAPS:
            self._rename(node, func, _SWAPS[name])
        if name in _IN_PLACE and self._shared(func.value, node):
            end = self.src.offset(func.end_lineno, func.end_col_offset)
            self.edits.append(_Edit("in-place", end, end, "_", self.widen(node)))
        if name in _SHAPE_CALLS:
            self.add("squeeze", node, receiver)
        if name == "squeeze" and (node.args or node.keywords):
            self.add("squeeze", node, f"{receiver}.squeeze()")
        if name in _CASTS:
            self.add("cast", node, receiver)

    def _shared(self, receiver: ast.AST, call: ast.Call) -> bool:
        """Whether changing ``receiver`` in place can be seen: it is (a part or a view of)
        an input, or a local read again later. An in-place operation on a fresh
        temporary changes nothing anyone sees."""
        root = receiver
        while isinstance(root, ast.Attribute | ast.Subscript) or (
            isinstance(root, ast.Call)
            and isinstance(root.func, ast.Attribute)
            and root.func.attr in ("view", "reshape", "t", "transpose", "squeeze", "unsqueeze")
        ):
            root = root.func.value if isinstance(root, ast.Call) else root.value
        if not isinstance(root, ast.Name):
            return False
        return self.is_input(root.id, call) or self.used_later(root.id, call)

    def _dims(self, node: ast.Call, name: str, is_method: bool) -> None:
        if name not in _DIM_FIRST:
            return
        position = 0 if is_method else 1
        dim_node = None
        for keyword in node.keywords:
            if keyword.arg in ("dim", "axis"):
                dim_node = keyword.value
        if dim_node is None and len(node.args) > position:
            dim_node = node.args[position]
        value = None if dim_node is None else _int_value(dim_node)
        if value is None:
            return
        self._claim(dim_node)
        self.add("dim", dim_node, str(_other_dim(value)), node)
        if name in _REDUCTIONS and not any(k.arg == "keepdim" for k in node.keywords):
            self.append_argument("squeeze", node, "keepdim=True")

    def _keywords(self, node: ast.Call, name: str) -> None:
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg == "keepdim" and isinstance(value, ast.Constant):
                self._claim(value)
                self.add("squeeze", value, str(not value.value), node)
            if keyword.arg == "dtype" and self.t(value) not in ("torch.float32", "torch.float"):
                self.add("cast", value, "torch.float32", node)
            if keyword.arg in ("min", "max") and name in ("clamp", "clip"):
                other = "max" if keyword.arg == "min" else "min"
                start = self.src.offset(keyword.lineno, keyword.col_offset)
                self.edits.append(_Edit("reduction", start, start + 3, other, self.widen(node)))

    def visit_Constant(self, node: ast.Constant) -> None:
        if id(node) in self.claimed:
            return
        value = node.value
        if isinstance(value, bool):
            self.add("logic", node, str(not value), self.parents.get(node, node))
            return
        if not isinstance(value, int | float) or isinstance(value, complex):
            return
        parent = self.parents.get(node)
        if (
            isinstance(parent, ast.BinOp)
            and isinstance(parent.op, ast.Pow)
            and parent.right is node
            and _static(parent.left, self.constants) == 1.0
        ):
            return  # 1 ** n is 1 for every n
        negative = isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub)
        for new in _perturbed(value):
            self.add("constant", node, repr(new), parent if negative else node)


# ----------------------------------------------------------------------------- generation


def graded_regions(source: str, functions: list[str]) -> list[tuple[str, str, int, int]]:
    """``(function, qualname, first line, last line)`` of every answer region inside one of
    ``functions`` (top-level names; a class's methods belong to the class)."""
    wanted = set(functions)
    return [
        (r.qualname.split(".")[0], r.qualname, r.begin, r.end)
        for r in find_regions(source)
        if r.qualname.split(".")[0] in wanted
    ]


def _functions_by_qualname(tree: ast.AST) -> dict[str, ast.FunctionDef]:
    found: dict[str, ast.FunctionDef] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found[name] = child
                visit(child, f"{name}.")

    visit(tree, "")
    return found


def _context_text(src: _Source, edit: _Edit) -> tuple[str, str]:
    if edit.context is None:
        return "", squash(edit.text)
    start, end = src.span(edit.context)
    start, end = min(start, edit.start), max(end, edit.end)
    before = src.source[start:end]
    after = before[: edit.start - start] + edit.text + before[edit.end - start :]
    return squash(before), squash(after)


def generate(module: str, source: str, functions: list[str]) -> list[Mutant]:
    """Every mutant of the graded ``functions`` of one solution file, in source order.

    An edit whose program does not compile, or is the original program, is left out;
    of two edits that give the same program, the first is kept."""
    tree = ast.parse(source)
    original = ast.dump(tree)
    src = _Source(source)
    defs = _functions_by_qualname(tree)
    constants = _module_constants(tree)
    seen = {original}
    counts: dict[tuple, int] = {}
    mutants: list[Mutant] = []
    for function, qualname, first, last in graded_regions(source, functions):
        edits = _Walker(src, defs[qualname], first, last, constants).run()
        edits.sort(key=lambda e: (e.start, e.end, KINDS.index(e.kind)))
        for edit in edits:
            mutated = source[: edit.start] + edit.text + source[edit.end :]
            try:
                dumped = ast.dump(ast.parse(mutated))
            except SyntaxError:
                continue
            if dumped in seen:
                continue
            seen.add(dumped)
            before, after = _context_text(src, edit)
            identity = (function, edit.kind, before, after)
            counts[identity] = counts.get(identity, 0) + 1
            line = source.count("\n", 0, edit.start) + 1
            mutants.append(
                Mutant(
                    module,
                    function,
                    qualname,
                    edit.kind,
                    line,
                    before,
                    after,
                    counts[identity],
                    edit.start,
                    edit.end,
                    edit.text,
                )
            )
    return mutants


def iter_kinds(mutants: list[Mutant]) -> Iterator[str]:
    return iter(sorted({m.kind for m in mutants}, key=KINDS.index))
