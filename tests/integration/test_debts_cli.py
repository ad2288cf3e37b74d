"""`atende debts` and `atende templates` on the Firestore emulator: what the README promises."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import bootstrap
from shared.cli import main
from shared.settings import get_settings

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def cli(emulator_project: str) -> Iterator[None]:
    """The command's composition root on a fresh emulator project."""
    get_settings.cache_clear()
    bootstrap._firestore.cache_clear()
    yield
    get_settings.cache_clear()
    bootstrap._firestore.cache_clear()


def test_debts_import_show_and_pay(cli: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["debts", "import", str(SAMPLES / "debts.csv")]) == 0
    assert "4 new, 0 changed, 0 unchanged" in capsys.readouterr().out
    assert main(["debts", "import", str(SAMPLES / "debts.csv")]) == 0
    assert "0 new, 0 changed, 4 unchanged" in capsys.readouterr().out

    assert main(["debts", "pay", "FAT-2026-0104", "--amount", "1000.00"]) == 0
    assert "FAT-2026-0104: paid (recorded)" in capsys.readouterr().out
    assert main(["debts", "show", "FAT-2026-0104"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["trail_status"], shown["amount_paid"]) == ("paid", "1000.00")

    assert main(["debts", "pay", "NOPE"]) == 1
    assert "no debt with invoice_id NOPE" in capsys.readouterr().err
    assert main(["debts", "pay", "FAT-2026-0101", "--amount", "dez"]) == 2
    assert "amount_paid" in capsys.readouterr().err


def test_a_bad_line_imports_nothing(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (SAMPLES / "debts.csv").read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "debts.csv"
    bad.write_text("\n".join([*lines[:3], "X-1,Sem Telefone,,10,2026-11-10,,PIX"]) + "\n")
    assert main(["debts", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4: phone" in err and "nothing imported: 1 bad line(s)" in err
    assert main(["debts", "show", "FAT-2026-0101"]) == 1


def test_templates_import_registers_the_samples(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["templates", "import", str(SAMPLES / "whatsapp_templates.jsonl")]) == 0
    assert "registered 3 template(s)" in capsys.readouterr().out
    store = bootstrap.template_store()
    template = store.template("cobranca_lembrete", "pt_BR")
    assert template is not None and template.status.value == "approved"
