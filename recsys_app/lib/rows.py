"""Per-row validation errors, shared by the REST batch endpoints and the file importer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class RowError:
    index: int  # position in the request batch, or the data line number in a file
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def row_errors_from_pydantic(index: int, exc: ValidationError) -> list[RowError]:
    errors = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or "(row)"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append(RowError(index=index, field=field, message=message))
    return errors
