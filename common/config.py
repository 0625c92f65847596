"""Config dataclasses read from JSON (checkpoint cards, recipes): strict about field names."""
from __future__ import annotations


def checked_fields(config_class, data: dict, what: str) -> dict:
    """A copy of `data`, or a one-line ValueError naming the fields `config_class` does not know:
    a checkpoint written by other code must not load silently with settings dropped."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(data).__name__}")
    known = set(config_class.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{what} has unknown fields {sorted(unknown)}; this code knows {sorted(known)}")
    return dict(data)
