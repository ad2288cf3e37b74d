"""The demo in a real browser: Debian's Chromium, driven by Playwright, on the local stack.

The phone page of the WhatsApp simulator is what `make demo` tells a new user to open: a
question typed there is answered by the pipeline, and the receipt button's photo is read and
its order looked up.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from conftest import Pipeline
from playwright.sync_api import Browser, Page, expect, sync_playwright

# Without these Chromium keeps trying to reach Google's services, which this machine refuses.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Debian's Chromium (`make browser` installs it); the tests fail without it."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail("Chromium is required for the browser tests: run `make browser`")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="pt-BR")
    opened = context.new_page()
    yield opened
    context.close()


def _as_customer(page: Page, pipeline: Pipeline, wa_id: str) -> None:
    page.goto(f"{pipeline.sim}/")
    page.fill("#from", wa_id)
    page.fill("#name", "Cliente Navegador")


def test_a_question_typed_on_the_phone_page_is_answered(
    page: Page, pipeline: Pipeline, wa_id: str
) -> None:
    _as_customer(page, pipeline, wa_id)
    page.fill("#text", "Vocês aceitam pix?")
    page.click("#send")
    expect(page.locator(".bubble.customer").last).to_contain_text("Vocês aceitam pix?")
    expect(page.locator(".bubble.business").last).to_contain_text("PIX", timeout=60_000)


def test_the_receipt_button_sends_a_photo_whose_order_is_looked_up(
    page: Page, pipeline: Pipeline, wa_id: str
) -> None:
    _as_customer(page, pipeline, wa_id)
    page.click("#receipt")
    expect(page.locator(".bubble.customer").last).to_contain_text("[imagem]")
    answer = page.locator(".bubble.business").last
    expect(answer).to_contain_text("482913", timeout=60_000)
    expect(answer).to_contain_text("Em trânsito")
