"""Knowledge-base entries from JSONL and CSV files."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.domain.knowledge import KnowledgeEntry, read_entries, read_file

HEADER = "id,question,answer,namespace,category,tags,paraphrases,expires_at\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_entries(tmp_path: Path) -> None:
    rows = [
        {
            "id": "sac-pix",
            "question": "Aceitam PIX?",
            "answer": "Sim.",
            "paraphrases": ["Posso pagar com PIX?", "Tem PIX?"],
            "tags": ["pagamento"],
            "expires_at": "2030-01-31T12:00:00Z",
            "unknown_field": "ignored",
        },
        {"id": "sac-horario", "question": "Que horas abre?", "answer": "24 horas."},
    ]
    path = _write(tmp_path, "kb.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    first, second = read_entries(path)
    assert first.id == "sac-pix"
    assert first.paraphrases == ["Posso pagar com PIX?", "Tem PIX?"]
    assert first.tags == ["pagamento"]
    assert first.expires_at == datetime(2030, 1, 31, 12, tzinfo=UTC)
    assert second.namespace == "sac"
    assert second.category == "geral"
    assert second.paraphrases == [] and second.tags == []
    assert second.expires_at is None


def test_csv_entries(tmp_path: Path) -> None:
    text = (
        HEADER + 'sac-pix,Aceitam PIX?,"Sim, aceitamos.",sac,pagamento,pix|pagamento,'
        '"Posso pagar com PIX? | Tem PIX?",\n'
        + "vendas-promo,Tem promoção?,Toda terça.,vendas,,,,2030-06-01T00:00:00+00:00\n"
    )
    pix, promo = read_entries(_write(tmp_path, "kb.csv", text))
    assert pix.answer == "Sim, aceitamos."
    assert pix.tags == ["pix", "pagamento"]
    assert pix.paraphrases == ["Posso pagar com PIX?", "Tem PIX?"]
    # A blank cell is "absent": the default, not the empty string.
    assert pix.expires_at is None
    assert promo.namespace == "vendas"
    assert promo.category == "geral"
    assert promo.tags == [] and promo.paraphrases == []
    assert promo.expires_at == datetime(2030, 6, 1, tzinfo=UTC)


def test_csv_suffix_is_case_insensitive(tmp_path: Path) -> None:
    text = HEADER + "a,b,c,,,,x|y,\n"
    (entry,) = read_entries(_write(tmp_path, "KB.CSV", text))
    assert entry.paraphrases == ["x", "y"]


def test_sample_kb_reads(repo_root: Path) -> None:
    sample = repo_root / "samples" / "kb.jsonl"
    if not sample.is_file():
        pytest.skip("samples/kb.jsonl not present")
    entries = list(read_entries(sample))
    assert entries
    assert len({e.id for e in entries}) == len(entries)
    assert all(e.answer and e.question for e in entries)


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({"id": "a", "question": "q", "answer": "r"})
    path = _write(tmp_path, "kb.jsonl", f"{good}\n\n{{not json\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: not JSON")):
        list(read_entries(path))


def test_invalid_jsonl_entry_names_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({"id": "a", "question": "q", "answer": "r"})
    bad = json.dumps({"id": "b", "question": "q"})
    path = _write(tmp_path, "kb.jsonl", f"{good}\n{bad}\n")
    # Nothing is imported from a file with a bad line: the whole file is checked first.
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: ")) as raised:
        list(read_entries(path))
    assert "answer" in str(raised.value)


def test_read_file_reports_every_bad_line_and_keeps_the_good(tmp_path: Path) -> None:
    good = json.dumps({"id": "a", "question": "q", "answer": "r"})
    lines = [good, json.dumps({"id": "b", "question": "q"}), "{not json", good, ""]
    report = read_file(_write(tmp_path, "kb.jsonl", "\n".join(lines)), default_namespace="saf")
    assert [e.id for e in report.entries] == ["a"]
    assert report.entries[0].namespace == "saf"
    assert [line for line, _ in report.skipped] == [2, 3, 4]
    assert "answer" in report.skipped[0][1]
    assert "not JSON" in report.skipped[1][1]
    assert "repeats line 1" in report.skipped[2][1]


def test_invalid_csv_row_names_file_and_line(tmp_path: Path) -> None:
    # Line 1 is the header; the bad row (empty answer) is line 3.
    text = HEADER + "a,q,r,,,,,\n" + "b,q,,,,,,\n"
    path = _write(tmp_path, "kb.csv", text)
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: ")) as raised:
        list(read_entries(path))
    assert "answer" in str(raised.value)


def test_bad_expires_at_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "kb.csv", HEADER + "a,q,r,,,,,amanhã\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: ")) as raised:
        list(read_entries(path))
    assert "expires_at" in str(raised.value)


def test_entry_is_frozen_and_needs_non_empty_fields() -> None:
    entry = KnowledgeEntry(id="a", question="q", answer="r")
    with pytest.raises(ValidationError):
        entry.id = "b"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        KnowledgeEntry(id="", question="q", answer="r")
