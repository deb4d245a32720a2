"""Jupyter notebooks as submissions: pure functions, no database and no I/O.

A notebook is read and validated with nbformat (format 4 only), then turned into what the
sandbox runs: its code cells joined into one `code`, and the line each cell starts on
(`cell_starts`, see workers.sandbox.protocol.SandboxJob), so that the sandbox runs them in
order as a kernel would and goes on after a cell that raises. Markdown and raw cells,
outputs, execution counts and metadata are never read: nothing but a code cell's source
reaches the sandbox, and a cell is named by its position in the notebook (`cell 3`), which
the student's notebook shows and cannot forge.

IPython syntax that is not Python (`%magic` and `!shell` lines, `x = !ls`, cells that
start with a `%%` cell magic) is not run: such a line becomes an empty line, so line
numbers stay those of the notebook, and the verdict says what was skipped.
"""

from __future__ import annotations

import bisect
import copy
import json
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import nbformat

from config.errors import ServiceError
from grader.checks import Runs, Verdict
from questions.exercises import CheckSpec
from workers.sandbox.protocol import StudentError

NOTEBOOK_FORMAT = 4
MAX_SKIPS_SHOWN = 8
# A line that is IPython, never Python, at the start of a statement.
_MAGIC_ASSIGNMENT = re.compile(r"^[A-Za-z_][\w.]*\s*=\s*([%!])")


class NotebookProblem(ValueError):
    """The notebook cannot be graded; the message says why, for the student."""


@dataclass(frozen=True, kw_only=True)
class Skipped:
    cell: int  # the cell's position among all the notebook's cells, from 1
    line: int | None  # the line in that cell, from 1; None for the whole cell
    reason: str

    def describe(self) -> str:
        where = f"cell {self.cell}" if self.line is None else f"cell {self.cell} line {self.line}"
        return f"{where} ({self.reason})"


@dataclass(frozen=True, kw_only=True)
class NotebookCode:
    """What the sandbox runs for a notebook, and how to word its lines back by cell."""

    code: str  # the code cells, joined; each ends with a line break
    cell_starts: tuple[int, ...]  # the line of `code` each code cell starts on, from 1
    cell_numbers: tuple[int, ...]  # each code cell's position among all the cells, from 1
    skipped: tuple[Skipped, ...] = ()

    def locate(self, line: int) -> tuple[int, int] | None:
        """(cell, line in that cell) of a line of `code`; None outside every cell."""
        return notebook_locate(cell_starts=self.cell_starts, cell_numbers=self.cell_numbers, line=line)


# --- Reading and validating ----------------------------------------------------------------


def notebook_parse(*, data: bytes, max_bytes: int) -> dict[str, Any]:
    """An uploaded .ipynb file's JSON object, or NotebookProblem."""
    if len(data) > max_bytes:
        raise NotebookProblem(f"The notebook is {len(data)} bytes; at most {max_bytes} are accepted.")
    try:
        text = data.decode("utf-8-sig")  # Jupyter writes UTF-8; some editors add a byte-order mark
    except UnicodeDecodeError as exc:
        raise NotebookProblem(f"The notebook is not UTF-8 text (byte {exc.start} is not UTF-8).") from None
    try:
        parsed = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise NotebookProblem(
            f"The notebook is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        raise NotebookProblem("The notebook is not valid JSON: it is nested too deeply.") from None
    except ValueError as exc:  # NaN or Infinity, which JSON does not have
        raise NotebookProblem(f"The notebook is not valid JSON: {exc}.") from None
    if not isinstance(parsed, dict):
        raise NotebookProblem("The file is not a Jupyter notebook: its JSON is not an object.")
    return parsed


def notebook_upload(*, filename: str, size: int, read: Callable[[], bytes], max_bytes: int) -> dict[str, Any]:
    """An uploaded file's notebook: refused by its name or size before it is read."""
    if not filename.lower().endswith(".ipynb"):
        raise NotebookProblem(f"{_cut(filename, 80)!r} is not a Jupyter notebook: upload an .ipynb file.")
    if size > max_bytes:
        raise NotebookProblem(f"The notebook is {size} bytes; at most {max_bytes} are accepted.")
    return notebook_parse(data=read(), max_bytes=max_bytes)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def notebook_validate(*, notebook: Mapping[str, Any], max_bytes: int) -> dict[str, Any]:
    """A valid nbformat 4 notebook, as a copy (`notebook` itself is left as it was sent),
    or NotebookProblem naming what is wrong."""
    size = _json_size(notebook)
    if size > max_bytes:
        raise NotebookProblem(f"The notebook is {size} bytes as JSON; at most {max_bytes} are accepted.")
    _check_text(notebook)
    version = notebook.get("nbformat")
    if version is None:
        raise NotebookProblem("This is not a Jupyter notebook: it has no 'nbformat' version.")
    if type(version) is not int or version != NOTEBOOK_FORMAT:
        raise NotebookProblem(
            f"This notebook is in nbformat {version!r}; only nbformat 4 is accepted."
            " Open it in Jupyter and save it again: Jupyter saves nbformat 4."
        )
    if not isinstance(notebook.get("cells"), list):
        raise NotebookProblem("This is not a valid nbformat 4 notebook: 'cells' is not a list.")
    try:
        node = copy.deepcopy(dict(notebook))
        # nbformat warns about (and fills in) cell ids missing from a 4.5 notebook, which
        # Jupyter itself accepts: not the student's problem. The copy gets them, not the
        # notebook as sent.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=nbformat.warnings.MissingIDFieldWarning)
            warnings.simplefilter("ignore", category=nbformat.warnings.DuplicateCellId)
            nbformat.validate(node)
    except nbformat.ValidationError as exc:
        raise NotebookProblem(f"This is not a valid nbformat 4 notebook: {_where(exc)}{_cut(exc.message)}.") from None
    except RecursionError:
        raise NotebookProblem("This is not a valid nbformat 4 notebook: it is nested too deeply.") from None
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        # nbformat assumes the notebook's overall shape before its schema checks it.
        raise NotebookProblem(f"This is not a valid nbformat 4 notebook ({type(exc).__name__}).") from None
    return node


def _json_size(notebook: Mapping[str, Any]) -> int:
    """The notebook's size as compact UTF-8 JSON: what it weighs however it was sent."""
    try:
        return len(json.dumps(notebook, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"))
    except RecursionError:
        raise NotebookProblem("This is not a valid nbformat 4 notebook: it is nested too deeply.") from None
    except (TypeError, ValueError) as exc:
        raise NotebookProblem(f"This is not a Jupyter notebook: {exc}.") from None


def _check_text(notebook: Mapping[str, Any]) -> None:
    """Every string of the notebook (keys too) as the database can store it: PostgreSQL
    refuses NUL in JSON, and a lone surrogate cannot be encoded at all. The notebook is
    kept as sent, so it is refused rather than altered."""
    stack: list[Any] = [notebook]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise NotebookProblem("The notebook contains a NUL character.")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise NotebookProblem("The notebook is not valid UTF-8 (it contains a lone surrogate).") from None


def _where(exc: nbformat.ValidationError) -> str:
    path = list(exc.absolute_path)
    if len(path) >= 2 and path[0] == "cells" and isinstance(path[1], int):
        inside = "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in path[2:])
        return f"cell {path[1] + 1}{inside}: "
    return "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in path) + (": " if path else "")


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, kw_only=True)
class Source:
    """What a student sent for grading: code, or a notebook and the code it runs as."""

    code: str
    notebook: dict[str, Any] | None = None
    cell_starts: tuple[int, ...] = ()

    @property
    def field(self) -> str:
        """The request field a problem with this source is reported under."""
        return "code" if self.notebook is None else "notebook"


def source_read(*, code: str | None, notebook: Mapping[str, Any] | None, max_notebook_bytes: int) -> Source:
    """Code or a notebook, exactly one of them; ServiceError (400) naming the problem.
    The code's own checks (size, emptiness) are grader.grading.code_problems'."""
    if code is not None and notebook is not None:
        raise ServiceError.invalid({"": ["Send either code or a notebook, not both."]})
    if notebook is None:
        if code is None:
            raise ServiceError.invalid({"code": ["Send code, or a notebook."]})
        return Source(code=code)
    try:
        notebook_validate(notebook=notebook, max_bytes=max_notebook_bytes)
        layout = notebook_code(notebook=notebook)
    except NotebookProblem as exc:
        raise ServiceError.invalid({"notebook": [str(exc)]}) from None
    return Source(code=layout.code, notebook=dict(notebook), cell_starts=layout.cell_starts)


def notebook_layout(*, notebook: Mapping[str, Any], code: str, cell_starts: Sequence[int]) -> NotebookCode:
    """The layout a stored notebook submission was run with, to word its verdict. Read
    again from the notebook; should the conversion have changed since it was stored (a
    deploy between submit and grade), its code cells are numbered among themselves."""
    try:
        layout = notebook_code(notebook=notebook)
    except (NotebookProblem, KeyError, TypeError, AttributeError):
        layout = None
    if layout is not None and layout.code == code and layout.cell_starts == tuple(cell_starts):
        return layout
    starts = tuple(cell_starts)
    return NotebookCode(code=code, cell_starts=starts, cell_numbers=tuple(range(1, len(starts) + 1)))


# --- From cells to code ------------------------------------------------------------------


def notebook_code(*, notebook: Mapping[str, Any]) -> NotebookCode:
    """The code cells of a valid notebook, joined in order, with IPython-only lines made
    empty; NotebookProblem when no code is left to run."""
    lines: list[str] = []
    starts: list[int] = []
    numbers: list[int] = []
    skipped: list[Skipped] = []
    for number, cell in enumerate(notebook["cells"], start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = ("".join(source) if isinstance(source, list) else str(source)).replace("\r\n", "\n")
        if not text.strip():
            continue  # nothing to run, nothing to say
        cell_lines = text.splitlines(keepends=True)  # as the sandbox splits `code` into cells
        first = next(line for line in cell_lines if line.strip()).strip()
        if first.startswith("%%"):
            skipped.append(Skipped(cell=number, line=None, reason=f"cell magic {_cut(first.split()[0], 40)}"))
            continue
        for index, (line, at_start) in enumerate(zip(cell_lines, _statement_starts(cell_lines), strict=True), 1):
            reason = _ipython_only(line) if at_start else None
            if reason is not None:
                skipped.append(Skipped(cell=number, line=index, reason=reason))
                cell_lines[index - 1] = "\n"
        if cell_lines[-1].splitlines()[0] == cell_lines[-1]:
            cell_lines[-1] += "\n"  # the next cell starts on a line of its own
        starts.append(len(lines) + 1)
        numbers.append(number)
        lines.extend(cell_lines)
    if not any(line.strip() for line in lines):
        raise NotebookProblem("The notebook has no code to run: its code cells are empty or hold only IPython magics.")
    return NotebookCode(
        code="".join(lines), cell_starts=tuple(starts), cell_numbers=tuple(numbers), skipped=tuple(skipped)
    )


def _ipython_only(line: str) -> str | None:
    """Why a line that starts a statement is IPython rather than Python, or None."""
    stripped = line.strip()
    if stripped.startswith("%"):
        return f"IPython magic {_cut(stripped.split()[0], 40)}"
    if stripped.startswith("!"):
        return "shell command"
    if match := _MAGIC_ASSIGNMENT.match(stripped):
        return "shell command" if match.group(1) == "!" else "IPython magic"
    return None


def _statement_starts(lines: Sequence[str]) -> list[bool]:
    """For each line, whether a new statement may start on it: not inside brackets, a
    string or a backslash continuation. (`% b` continuing `(a` is Python's modulo, not a
    magic.) A light scan, not a tokenizer: code it misreads fails to compile in its cell,
    which the verdict then reports."""
    starts = []
    depth, quote, continued = 0, "", False
    for line in lines:
        starts.append(depth == 0 and not quote and not continued)
        continued = False
        i, end = 0, len(line)
        while i < end:
            char = line[i]
            if quote:
                if char == "\\":
                    i += 2
                    continue
                if line.startswith(quote, i):
                    i += len(quote)
                    quote = ""
                    continue
                i += 1
                continue
            if char == "#":
                break
            if char in "\"'":
                quote = line[i : i + 3] if line.startswith(char * 3, i) else char
                i += len(quote)
                continue
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth = max(0, depth - 1)
            elif char == "\\" and not line[i + 1 :].strip():
                continued = True
            i += 1
        if quote in ('"', "'") and not line.rstrip("\n").endswith("\\"):
            quote = ""  # a one-line string left open: a SyntaxError of its own line
    return starts


def notebook_locate(*, cell_starts: Sequence[int], cell_numbers: Sequence[int], line: int) -> tuple[int, int] | None:
    """(cell, line in that cell) of a line of the joined code; None before the first cell."""
    index = bisect.bisect_right(cell_starts, line) - 1
    if index < 0 or line < 1:
        return None
    return cell_numbers[index], line - cell_starts[index] + 1


# --- The verdict, worded by cell -----------------------------------------------------------


def notebook_verdict(
    *,
    verdict: Verdict,
    checks: Sequence[CheckSpec],
    runs: Runs,
    layout: NotebookCode,
    entry_points: Sequence[str],
    variant: int = 0,
) -> Verdict:
    """The verdict on a notebook, said in its terms: each check names the cell its
    function was defined in and the cell of an error's line, and the summary adds the
    cells that raised and what was skipped. Wording only: no score changes."""
    run = runs.main
    defined = {name: located for name, line in run.defined_at.items() if (located := layout.locate(line)) is not None}
    messages = []
    for check, judged in zip(checks, verdict.checks, strict=True):
        message = judged.message
        outcome = runs.outcome(check.call_id(variant))
        if outcome is not None and outcome.error is not None:
            message = _error_line_in_cell(message=message, error=outcome.error, layout=layout)
        messages.append(message + _definitions(call=check.call, entry_points=entry_points, defined=defined))
    summary = verdict.summary
    if run.module_error is not None and run.module_error.line and run.module_error.type != "MemoryError":
        summary = _cell_error(error=run.module_error, cell=None, layout=layout)
    notes = [summary]
    notes += [
        _cell_error(error=error, cell=layout.cell_numbers[index], layout=layout)
        for index, error in sorted(run.cell_errors.items())
        if 0 <= index < len(layout.cell_numbers)
    ]
    if layout.skipped:
        shown = ", ".join(skip.describe() for skip in layout.skipped[:MAX_SKIPS_SHOWN])
        more = len(layout.skipped) - MAX_SKIPS_SHOWN
        notes.append(f"not run, as IPython syntax: {shown}" + (f" and {more} more" if more > 0 else ""))
    return replace(
        verdict,
        checks=tuple(replace(judged, message=m) for judged, m in zip(verdict.checks, messages, strict=True)),
        summary="; ".join(notes),
    )


def _cell_error(*, error: StudentError, cell: int | None, layout: NotebookCode) -> str:
    """`cell 7 raised NameError: name 'np' is not defined (line 2)`, the line being one
    of the raising cell's own (or of the cell where it is, for a function called there)."""
    located = layout.locate(error.line) if error.line else None
    if cell is None and located is not None:
        cell = located[0]
    raised = f"cell {cell} raised {error.type}" if cell is not None else f"a cell raised {error.type}"
    message = f": {error.message}" if error.message else ""
    where = ""
    if located is not None:
        where = f" (line {located[1]})" if located[0] == cell else f" (cell {located[0]}, line {located[1]})"
    return f"{raised}{message}{where}"


def _error_line_in_cell(*, message: str, error: StudentError, layout: NotebookCode) -> str:
    """A check's `(line 12)`, a line of the joined code, as `(cell 3, line 2)`."""
    if error.in_setup or not error.line:
        return message
    located = layout.locate(error.line)
    marker = f"(line {error.line})"
    at = message.rfind(marker)
    if located is None or at < 0:
        return message
    return f"{message[:at]}(cell {located[0]}, line {located[1]}){message[at + len(marker) :]}"


def _definitions(*, call: str, entry_points: Sequence[str], defined: Mapping[str, tuple[int, int]]) -> str:
    """` (`f` is defined in cell 3)` for the functions the check's call names."""
    named = [name for name in entry_points if name in defined and re.search(rf"\b{re.escape(name)}\b", call)]
    if not named:
        return ""
    first, *others = named
    parts = [f"`{first}` is defined in cell {defined[first][0]}"]
    parts += [f"`{name}` in cell {defined[name][0]}" for name in others]
    return f" ({', '.join(parts)})"


# --- Starter notebooks and downloads ----------------------------------------------------


def notebook_starter(
    *, slug: str, prompt: str, starter_code: str, functions: Iterable[str], exercise_url: str, api_url: str
) -> dict[str, Any]:
    """The notebook a student starts an exercise from: the prompt, the starter code, and
    how to hand it in. Cell ids are fixed, so that the same exercise gives the same file."""
    signatures = "\n".join(f"- `{signature}`" for signature in functions)
    how = (
        "## Submitting\n\n"
        f"Write these functions in the code cell above (add cells as you like):\n\n{signatures}\n\n"
        "When they work, save this notebook (*File → Save*) and either upload the `.ipynb` file"
        f" on the exercise's page, {exercise_url}, or send it to the API:\n\n"
        "```sh\n"
        f"curl -H 'Authorization: Token YOUR-TOKEN' -F file=@{slug}.ipynb {api_url}\n"
        "```\n\n"
        "The grader runs the code cells in order, as a script, and goes on after a cell that raises."
        " Markdown cells and outputs are ignored, and IPython magics (`%…`, `%%…` cells) and shell"
        " lines (`!…`) are not run. Graded functions must be defined in the notebook itself."
    )
    return {
        "cells": [
            _cell("markdown", "prompt", prompt),
            _cell("code", "solution", starter_code),
            _cell("markdown", "submitting", how),
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": NOTEBOOK_FORMAT,
        "nbformat_minor": 5,
    }


def _cell(cell_type: str, cell_id: str, text: str) -> dict[str, Any]:
    """A cell as Jupyter writes it: the source as lines, a code cell without outputs."""
    cell: dict[str, Any] = {"cell_type": cell_type, "id": cell_id, "metadata": {}}
    cell["source"] = text.rstrip("\n").splitlines(keepends=True)
    if cell_type == "code":
        cell |= {"execution_count": None, "outputs": []}
    return cell


def notebook_file_bytes(*, notebook: Mapping[str, Any]) -> bytes:
    """A notebook as the .ipynb file Jupyter would write (one-space indents, sorted keys)."""
    return (json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
