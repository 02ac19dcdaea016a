"""Warnings for text that looks like a parameter but is not one (it is sent literally).

Lenient braces make ``payout={Payout`` valid: the ``{`` opens nothing, so the text goes
out as typed. The checker cannot call that an error (JSON bodies rely on it), so the
editor shows these as warnings instead. Pure: text and parameter names in, messages out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# `{Name` (not escaped) followed by something that is neither `}`, `.field`, `|` nor `(`.
UNCLOSED = re.compile(rf"(?<!\\)\{{({IDENT})(?![A-Za-z0-9_}}|.(])")
# `{ Name}`, `{Name }`, `{ Name }`: a space makes the braces text.
SPACED = re.compile(rf"(?<!\\)\{{([ \t]*)({IDENT})([ \t]*)\}}")
# `{{Name}}`: the inner pair is a parameter, the outer braces are sent as text.
DOUBLED = re.compile(rf"(?<!\\)\{{\{{({IDENT})\}}\}}")
# Other platforms' macro styles: `%Name%`, `[Name]`, `$Name`, `##Name##` (not `<Name>`: XML
# bodies are full of those; not `${Name}`: its `{Name}` is a parameter, after a `$`).
FOREIGN = re.compile(rf"%({IDENT})%|\[({IDENT})\]|\$({IDENT})|##({IDENT})##")


@dataclass(frozen=True, slots=True)
class Lookalike:
    position: int
    text: str
    message: str


def lookalikes(template: str, names: Iterable[str]) -> list[Lookalike]:
    """Places in ``template`` that look like a parameter of ``names`` but are plain text."""
    known = {n.lower(): n for n in names}
    found: list[Lookalike] = []
    for m in UNCLOSED.finditer(template):
        if m.group(1).lower() in known:
            found.append(
                Lookalike(
                    m.start(),
                    m.group(0),
                    f"{m.group(0)} has no closing brace, so it is sent as typed; "
                    f"write {{{known[m.group(1).lower()]}}}",
                )
            )
    for m in SPACED.finditer(template):
        if (m.group(1) or m.group(3)) and m.group(2).lower() in known:
            name = known[m.group(2).lower()]
            found.append(
                Lookalike(
                    m.start(),
                    m.group(0),
                    f"{m.group(0)} has spaces inside the braces, so it is sent as typed; "
                    f"write {{{name}}}",
                )
            )
    for m in DOUBLED.finditer(template):
        found.append(
            Lookalike(
                m.start(),
                m.group(0),
                f"{m.group(0)}: only one pair of braces is needed; the outer pair is sent as text",
            )
        )
    for m in FOREIGN.finditer(template):
        name = next(g for g in m.groups() if g)
        if name.lower() in known:
            found.append(
                Lookalike(
                    m.start(),
                    m.group(0),
                    f"{m.group(0)} is another platform's macro style and is sent as typed; "
                    f"write {{{known[name.lower()]}}}",
                )
            )
    return sorted(found, key=lambda w: w.position)
