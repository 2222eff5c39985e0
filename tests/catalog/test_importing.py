from __future__ import annotations

import csv
import json
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from recsys_app.catalog.importing import ImportFileError, ImportRequest, import_file
from recsys_app.catalog.models import EndUser, ImportRun, Interaction, Item
from tests.factories import make_catalog

HEADER = "user_id,item_id,type,value,timestamp,idempotency_key\n"


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def rejects(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("import_data", *args, "--no-progress", stdout=out)
    return out.getvalue()


@pytest.fixture
def catalog(db: None) -> None:
    make_catalog(items=3, users=2)


def test_csv_interactions_good_and_bad_rows(tmp_path: Path, catalog: None) -> None:
    source = write(
        tmp_path / "events.csv",
        HEADER
        + "\n".join(
            [
                "u1,i1,click,,2024-01-01T00:00:00Z,a",
                "u2,i2,purchase,12.5,1704067200,b",
                "u9,i1,click,,2024-01-01T00:00:00Z,c",
                "u1,i1,teleport,,2024-01-01T00:00:00Z,d",
                "u1,i1,click,abc,2024-01-01T00:00:00Z,e",
                "u1,i1,click,,2024-01-01T00:00:00Z",
                "u1,i1,click,,2024-01-01T00:00:00Z,a",
            ]
        )
        + "\n",
    )
    output = run_command("interactions", str(source))
    assert "7 rows read, 2 stored, 1 duplicate or unchanged, 4 rejected" in output
    assert sorted(Interaction.objects.values_list("idempotency_key", flat=True)) == ["a", "b"]
    assert rejects(tmp_path / "events.csv.rejects.csv") == [
        ["line", "field", "message"],
        ["4", "user_id", "unknown user 'u9'; upsert the user first"],
        [
            "5",
            "type",
            "unknown interaction type 'teleport' (known: add_to_cart, click, dislike, like, purchase, "
            "rating, share, skip, view)",
        ],
        ["6", "value", "must be a finite number"],
        ["7", "(row)", "has 5 fields, the header has 6"],
    ]


def test_the_same_file_twice_is_imported_once(tmp_path: Path, catalog: None) -> None:
    source = write(tmp_path / "e.csv", HEADER + "u1,i1,click,,2024-01-01T00:00:00Z,k1\n")
    run_command("interactions", str(source))
    second = run_command("interactions", str(source))
    assert "done: 1 rows read, 1 stored" in second  # the finished run is reported, not redone
    assert ImportRun.objects.count() == 1 and Interaction.objects.count() == 1


def test_interrupted_import_resumes_without_duplicates(tmp_path: Path, catalog: None) -> None:
    lines = [f"u{1 + n % 2},i{1 + n % 3},view,,2024-01-01T00:00:{n:02d}Z,k{n}" for n in range(10)]
    lines[2] = "u9,i1,view,,2024-01-01T00:00:00Z,bad-user"
    lines[7] = "u1,i1,view,,not-a-time,bad-time"
    source = write(tmp_path / "e.csv", HEADER + "\n".join(lines) + "\n")
    seen: list[int] = []

    def interrupt_after_two_chunks(rows: int) -> None:
        seen.append(rows)
        if len(seen) == 2:
            raise KeyboardInterrupt

    request = ImportRequest(path=source, kind="interactions", chunk_rows=3)
    with pytest.raises(KeyboardInterrupt):
        import_file(request, progress=interrupt_after_two_chunks)
    run = ImportRun.objects.get()
    assert (run.status, run.rows_done) == ("running", 6)

    run = import_file(request)
    assert (run.status, run.rows_done, run.rows_stored, run.rows_rejected) == ("done", 10, 8, 2)
    assert Interaction.objects.count() == 8
    assert [row[0] for row in rejects(Path(run.rejects_path))] == ["line", "4", "9"]


def test_missing_column_stops_the_import_before_writing(tmp_path: Path, catalog: None) -> None:
    source = write(tmp_path / "e.csv", "user_id,item_id,timestamp,colour\nu1,i1,2024-01-01T00:00:00Z,red\n")
    with pytest.raises(CommandError, match=r"missing required column\(s\): type; unknown column\(s\): colour"):
        run_command("interactions", str(source))
    assert Interaction.objects.count() == 0


def test_non_utf8_file_names_the_line(tmp_path: Path, catalog: None) -> None:
    source = write(
        tmp_path / "e.csv", (HEADER + "u1,i1,click,,2024-01-01T00:00:00Z,k\nu1,i\xe9,click\n").encode("latin-1")
    )
    with pytest.raises(CommandError, match="not valid UTF-8: line 3 has byte 0xe9"):
        run_command("interactions", str(source))
    assert Interaction.objects.count() == 0 and ImportRun.objects.count() == 0


def test_empty_and_unknown_format_files(tmp_path: Path, catalog: None) -> None:
    with pytest.raises(CommandError, match="the file is empty"):
        run_command("interactions", str(write(tmp_path / "e.csv", "")))
    with pytest.raises(CommandError, match="cannot tell the format"):
        run_command("interactions", str(write(tmp_path / "e.txt", "x")))
    with pytest.raises(CommandError, match="no such file"):
        run_command("interactions", str(tmp_path / "missing.csv"))


def test_jsonl_events_with_a_broken_line(tmp_path: Path, catalog: None) -> None:
    good = {"user_id": "u1", "item_id": "i2", "type": "like", "timestamp": "2024-01-01T00:00:00+02:00"}
    source = write(
        tmp_path / "e.jsonl",
        "\n".join(
            [
                json.dumps(good),
                "{broken",
                json.dumps({**good, "shoe": 1}),
                json.dumps([1]),
                json.dumps({**good, "item_id": "i3"}),
            ]
        )
        + "\n",
    )
    assert "2 stored, 0 duplicate or unchanged, 3 rejected" in run_command("interactions", str(source))
    assert [r[:2] for r in rejects(tmp_path / "e.jsonl.rejects.csv")[1:]] == [
        ["2", "(row)"],
        ["3", "shoe"],
        ["4", "(row)"],
    ]


def test_parquet_items_and_interactions(tmp_path: Path, db: None) -> None:
    items = pd.DataFrame(
        {
            "external_id": ["p1", "p2", "p3"],
            "title": ["Kettle", "Mug", ""],
            "tags": [["kitchen"], [], ["x"]],
            "price": [25.0, 5.5, 1.0],
            "currency": ["EUR"] * 3,
        }
    )
    items.to_parquet(tmp_path / "items.parquet")
    assert "2 stored, 0 duplicate or unchanged, 1 rejected" in run_command("items", str(tmp_path / "items.parquet"))
    assert Item.objects.get(external_id="p1").tags == ["kitchen"]
    run_command("users", str(write(tmp_path / "users.csv", "external_id,consent_training\nu1,false\nu2,\n")))
    assert list(EndUser.objects.order_by("external_id").values_list("consent_training", flat=True)) == [False, True]
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u1"],
            "item_id": ["p1", "p2", "nope"],
            "type": ["view", "purchase", "view"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
            "value": [None, 5.5, None],
        }
    )
    events.to_parquet(tmp_path / "events.parquet")
    assert "2 stored, 0 duplicate or unchanged, 1 rejected" in run_command(
        "interactions", str(tmp_path / "events.parquet")
    )
    assert rejects(tmp_path / "events.parquet.rejects.csv")[1][:2] == ["3", "item_id"]


def test_csv_items_decode_tags_and_attributes(tmp_path: Path, db: None) -> None:
    source = write(
        tmp_path / "items.csv",
        "\n".join(
            [
                "external_id,title,tags,attributes,price,currency,is_available",
                'a,Boots,hiking|men,"{""size"": 42}",99.90,EUR,true',
                'b,Socks,,"{not json}",,,',
                "c,Hat,,,,,no",
            ]
        )
        + "\n",
    )
    assert "2 stored, 0 duplicate or unchanged, 1 rejected" in run_command("items", str(source))
    boots = Item.objects.get(external_id="a")
    assert (boots.tags, boots.attributes, str(boots.price)) == (["hiking", "men"], {"size": 42}, "99.90")
    assert Item.objects.get(external_id="c").is_available is False
    assert rejects(tmp_path / "items.csv.rejects.csv")[1][:2] == ["3", "attributes"]


def test_service_rejects_unknown_kind(tmp_path: Path, db: None) -> None:
    with pytest.raises(ImportFileError, match="unknown kind 'orders'"):
        import_file(ImportRequest(path=tmp_path, kind="orders"))


def test_quoted_multiline_csv_keeps_exact_line_numbers(tmp_path: Path, catalog: None) -> None:
    source = write(
        tmp_path / "e.csv",
        "\n".join(
            [
                "user_id,item_id,type,timestamp,context",
                'u1,i1,view,2024-01-01T00:00:00Z,"{""note"":',
                '""x""}"',
                "u1,i1,view,2024-01-01T00:00:01Z",
                "u9,i1,view,2024-01-01T00:00:02Z,",
            ]
        )
        + "\n",
    )
    assert "1 stored, 0 duplicate or unchanged, 2 rejected" in run_command("interactions", str(source))
    assert Interaction.objects.get().context == {"note": "x"}
    assert [r[:2] for r in rejects(tmp_path / "e.csv.rejects.csv")[1:]] == [["4", "(row)"], ["5", "user_id"]]


def test_plain_csv_fast_path_reports_malformed_lines_across_chunks(tmp_path: Path, catalog: None) -> None:
    lines = [f"u1,i1,view,,2024-01-01T00:00:{n:02d}Z,k{n}" for n in range(9)]
    lines[1] = "u1,i1"
    lines[8] = "u1,i1,view,,2024-01-01T00:00:00Z,k8,extra"
    source = write(tmp_path / "e.csv", HEADER + "\n".join(lines) + "\n")
    run = import_file(ImportRequest(path=source, kind="interactions", chunk_rows=2))
    assert (run.rows_done, run.rows_stored, run.rows_rejected) == (9, 7, 2)
    assert [r[0] for r in rejects(Path(run.rejects_path))[1:]] == ["3", "10"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_parallel_writers_store_each_event_once(tmp_path: Path, settings) -> None:
    settings.IMPORT_PARALLEL_MIN_ROWS = 1  # every chunk goes to IMPORT_WRITERS connections
    settings.IMPORT_WRITERS = 3
    make_catalog(items=3, users=2)
    lines = [f"u{1 + n % 2},i{1 + n % 3},view,,2024-01-01T00:{n // 60:02d}:{n % 60:02d}Z,k{n}" for n in range(300)]
    lines[10] = "u9,i1,view,,2024-01-01T00:00:00Z,ghost"
    lines[200] = lines[20]  # a duplicate key in another chunk
    source = write(tmp_path / "e.csv", HEADER + "\n".join(lines) + "\n")
    run = import_file(ImportRequest(path=source, kind="interactions", chunk_rows=50))
    assert (run.rows_done, run.rows_stored, run.rows_unchanged, run.rows_rejected) == (300, 298, 1, 1)
    assert Interaction.objects.count() == 298
    assert rejects(Path(run.rejects_path))[1][:2] == ["12", "user_id"]


def test_events_without_a_key_are_deduplicated_across_api_and_files(tmp_path: Path, catalog: None) -> None:
    from recsys_app.catalog.services import interactions_ingest

    event = {"user_id": "u1", "item_id": "i2", "type": "purchase", "value": 9.5, "timestamp": "2024-03-01T10:00:00Z"}
    assert interactions_ingest(rows=[event]).stored == 1
    source = write(tmp_path / "e.csv", "user_id,item_id,type,value,timestamp\nu1,i2,purchase,9.5,1709287200\n")
    assert "0 stored, 1 duplicate" in run_command("interactions", str(source))
    assert Interaction.objects.get().idempotency_key.startswith("auto:")
