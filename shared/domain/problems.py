"""How a validation error is told to a person: which field, what is wrong, never the input."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["validation_problems"]


def validation_problems(error: ValidationError) -> str:
    """`field: message; ...`, without the input (it may hold phone numbers or customers' words)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    )
