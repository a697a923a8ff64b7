"""Operator constructors generated from the parameter spec (``request/params.py``), so each is declared once.

Airflow reads an operator's ``__init__`` signature: ``default_args`` fill only the parameters it
names, and ``.partial().expand()`` accepts only those. The generated ``__init__`` therefore carries
a real signature (``__signature__``): every spec field as a keyword-only parameter with its default
(required fields without one), then ``**kwargs`` for the base operator and ``BaseOperator``.
"""

from __future__ import annotations

import inspect
from typing import Any

from sagemaker_processing_provider.request.params import is_required, params_class, spec


def spec_init(cls: type, declaration: type):
    """An ``__init__`` for ``cls`` that stores each spec field as an attribute (template fields need that)."""
    fields = spec(declaration)

    def __init__(self, **kwargs: Any) -> None:
        values = {f.name: kwargs.pop(f.name) for f in fields if f.name in kwargs}
        super(cls, self).__init__(**kwargs)
        for f in fields:
            setattr(self, f.name, values.get(f.name, None if is_required(f) else f.default))

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for f in fields:
        default = inspect.Parameter.empty if is_required(f) else f.default
        parameters.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default))
    parameters.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
    __init__.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__doc__ = f"Parameters: see the class docstring (generated from ``{declaration.__name__}``)."
    return __init__


def params_doc(declaration: type) -> str:
    """Sphinx ``:param:`` lines for the class docstring."""
    lines = []
    for f in spec(declaration):
        required = " Required." if is_required(f) else ""
        lines.append(f":param {f.name}: {f.metadata.get('doc', '')}{required}")
    return "\n".join(lines)


def values(operator: Any, declaration: type) -> Any:
    """The operator's (rendered) attributes as the declaration's params dataclass, for the builder."""
    return params_class(declaration)(**{f.name: getattr(operator, f.name) for f in spec(declaration)})
