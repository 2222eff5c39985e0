from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recsys_app.catalog.importing import KINDS, ImportFileError, ImportRequest, import_file


class Command(BaseCommand):
    help = (
        "Import creators, items, users or interactions from CSV, JSON Lines or Parquet. "
        "Rejected rows go to a CSV file; running again on the same file resumes where it stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("path", type=Path)
        parser.add_argument("--format", choices=["csv", "jsonl", "parquet"], help="default: from the extension")
        parser.add_argument("--rejects", type=Path, help="default: <file>.rejects.csv beside the file")
        parser.add_argument("--chunk-rows", type=int, help="rows per committed chunk")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        request = ImportRequest(
            path=options["path"].resolve(),
            kind=options["kind"],
            fmt=options["format"],
            rejects_path=options["rejects"].resolve() if options["rejects"] else None,
            chunk_rows=options["chunk_rows"],
        )
        bar = tqdm(unit=" rows", disable=options["no_progress"], desc=request.kind, file=self.stderr._out)
        try:
            run = import_file(request, progress=bar.update)
        except ImportFileError as exc:
            raise CommandError(f"{request.path}: {exc}") from exc
        finally:
            bar.close()
        self.stdout.write(
            f"import #{run.pk} {run.status}: {run.rows_done} rows read, {run.rows_stored} stored, "
            f"{run.rows_unchanged} duplicate or unchanged, {run.rows_rejected} rejected (see {run.rejects_path})"
        )
