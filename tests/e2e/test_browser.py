"""The demo in a real browser: Debian's Chromium, driven by Playwright, on the local stack.

The phone page of the WhatsApp simulator is what `make demo` tells a new user to open: a
question typed there is answered by the pipeline, and the receipt button's photo is read and
its order looked up.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator

import pytest
from conftest import Pipeline, wait_for
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


# Module-scoped: Playwright's sync API keeps an asyncio loop running in this thread while it is
# open, and later tests that call asyncio.run() would fail.
@pytest.fixture(scope="module")
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


def test_an_analyst_answers_a_handoff_in_the_console_and_the_ai_learns_it(
    page: Page, pipeline: Pipeline, wa_id: str
) -> None:
    # The path: unknown question → handoff → queue → answer with an expiry → the
    # customer gets it → the next customer who asks in other words is answered by the AI.
    console = pipeline.stack.config.console_url
    question = "vocês têm bicicletário no condomínio para deixar a bicicleta?"
    answer = "Temos sim: o bicicletário fica ao lado da portaria, com cadeado próprio."
    pipeline.customer_says(wa_id, question)
    wait_for(lambda: pipeline.conversation(wa_id).get("holder") == "human", what="the handoff")
    ticket_id = pipeline.conversation(wa_id)["open_ticket_id"]

    page.goto(f"{console}/login")
    page.fill("#email", "analista@atende.local")
    page.click("#login")
    page.goto(f"{console}/queue")
    link = page.locator(f"#queue .ticket-link[href$='{ticket_id}']")
    expect(link).to_be_visible()
    link.click()
    expect(page.locator("#handoff-card")).to_contain_text("bicicletário")
    page.fill("#answer-text", answer)
    page.fill("#answer-expires", "2027-12-31T18:00")
    page.click("#answer-submit")
    expect(page.locator("#notice")).to_be_visible()

    sent = wait_for(
        lambda: [m for m in pipeline.sent_to(wa_id) if m["text"] == answer], what="the reply"
    )
    assert len(sent) == 1

    other = f"55119{wa_id[-8:][::-1]}"
    pipeline.customer_says(other, "tem lugar pra guardar bicicleta no condomínio?")
    learned = wait_for(lambda: pipeline.sent_to(other), what="the AI's answer", timeout=60)
    assert learned[0]["text"] == answer

    page.goto(f"{console}/dashboard?days=7")
    expect(page.locator("#fig-tickets")).to_be_visible()
    expect(page.locator("svg#chart")).to_be_visible()
    # The billing figures in the seed's formats (other tests' billing trails may count here).
    expect(page.locator("#fig-recovered")).to_have_text(
        re.compile(r"^R\$ \d{1,3}(\.\d{3})*,\d{2}$")
    )
    expect(page.locator("#fig-paid-conversion")).to_have_text(re.compile(r"^(n/a|\d+(\.\d)?%)$"))


def test_a_photo_the_ai_could_not_use_shows_on_the_ticket_page(
    page: Page, pipeline: Pipeline, wa_id: str
) -> None:
    # A receipt with no order number on it: the AI hands off, and the analyst sees the photo.
    body = {"from": wa_id, "order_number": "", "name": "Cliente Navegador"}
    assert pipeline.http.post(f"{pipeline.sim}/_sim/receipt", json=body).status_code == 200
    wait_for(lambda: pipeline.conversation(wa_id).get("holder") == "human", what="the handoff")
    ticket_id = pipeline.conversation(wa_id)["open_ticket_id"]
    console = pipeline.stack.config.console_url

    page.goto(f"{console}/login")
    page.fill("#email", "analista@atende.local")
    page.click("#login")
    page.goto(f"{console}/tickets/{ticket_id}")
    photo = page.locator("#conversation img.media")
    expect(photo).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('#conversation img.media');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    # Without a session the image is not served: the dev console sends the visitor to log in.
    anonymous = pipeline.http.get(f"{console}{photo.get_attribute('src')}")
    assert anonymous.status_code in (303, 401)
    assert not anonymous.headers.get("content-type", "").startswith("image/")
