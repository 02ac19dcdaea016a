"""The postback template language: ``{Name}``, ``{Name|f(args)|g}`` and ``{join(items, ...)}``.

The language is described in README.md (Templates) and pinned by the vectors in
``tests/unit/template_vectors.json``; its functions are ``functions.FUNCTION_LIST``.
Compile once with :func:`compile_template`, render many times with :meth:`Template.render`::

    template = compile_template("https://p.example/?a={ActionId}", context="url")
    template.render({"ActionId": "1.2"})  # 'https://p.example/?a=1.2'
"""

from __future__ import annotations

from postback.domain.catalogue import (
    Catalogue,
    Parameter,
    ParamType,
    catalogue_for,
    sample_params,
)
from postback.template.compiler import Template, compile_template
from postback.template.errors import TemplateError
from postback.template.lexer import literal_text

__all__ = [
    "Catalogue",
    "ParamType",
    "Parameter",
    "Template",
    "TemplateError",
    "catalogue_for",
    "compile_template",
    "literal_text",
    "sample_params",
]
