"""Label a synced task in Label Studio's own web UI, in a real browser, then pull it.

The rest of the suite talks to the server over HTTP only; this test checks what an annotator
sees: the sentence with its headline and context as plain text (markup in an article is shown, not
rendered), the three choices, and that ticking one and pressing Submit makes an annotation the
builder's `pull` accepts.

It drives Debian's chromium (/usr/bin/chromium, `apt-get install chromium`) with the `playwright`
package, never a browser downloaded by `playwright install`. Without either it is skipped on a
developer's machine and fails under CI (`.ci/run` installs chromium).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LabelStudioServer
from support import SAMPLES, Api, ok

from builder.core.config import Settings

pytestmark = pytest.mark.server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000

SENTENCE = "At the attack On Sunday, five people were killed, according to the local government."
HEADLINE = "America and Russia call for the first time after a year about war in Ukraine"
BEFORE = (
    "Although Russia illegally annexed the area in 2014 and considers it Russian, this is hardly "
    "recognized internationally and according to international authorities the peninsula is "
    "Ukrainian."
)
CHOICES = ("no_claim", "not_checkworthy", "checkworthy")
MARKUP = "Officials said <b>bold</b> & <i>x</i> happened."
COUNTS = re.compile(
    r"^claims: pulled (?P<pulled>\d+) = accepted (?P<accepted>\d+) \+ rejected "
    r"(?P<rejected>\d+) \+ skipped (?P<skipped>\d+)",
    re.MULTILINE,
)


def missing(reason: str) -> None:
    """Fail under CI, which must run this test; skip on a developer's machine."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; under CI the browser test must run, not be skipped")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_available() -> None:
    """Skip (or, under CI, fail) before a server is started when there is no browser to drive."""
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does it under CI)")
    if importlib.util.find_spec("playwright") is None:
        missing("the playwright module is missing: `pip install -e '.[dev]'` installs it")


@pytest.fixture
def browser(browser_available: None, tmp_path: Path) -> Iterator[Any]:
    """A headless Debian chromium driven by playwright with a fresh profile; a page of it.

    Closing the context ends chromium and all its processes, whatever the test did.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=tmp_path / "chromium-profile",
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=TIMEOUT_MS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            context.set_default_navigation_timeout(TIMEOUT_MS)
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


@pytest.fixture
def root(server_settings: Settings, project_root: Path) -> Path:
    """The samples and an article with markup in it, under a claims project title of its own."""
    for sample in SAMPLES:
        shutil.copy(sample, project_root / "raw" / sample.name)
    (project_root / "raw" / "markup.jsonl").write_text(
        json.dumps(
            {
                "id": "markup",
                "title": "An article with markup in its text",
                "source": "Example Outlet",
                "date": "2024-06-27",
                "text": f"{MARKUP}\n\nA second sentence follows here.",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    tag = uuid.uuid4().hex[:10]
    with open(project_root / ".env", "a", encoding="utf-8") as env:
        env.write(f"CLAIMS_PROJECT_TITLE=test ui claims {tag}\n")
        env.write(f"STANCE_PROJECT_TITLE=test ui stance {tag}\n")
    return project_root


def test_an_annotator_labels_a_task_in_the_browser_and_pull_accepts_it(
    browser_available: None,
    root: Path,
    labelstudio: LabelStudioServer,
    browser: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    out = ok(root, "sync", "--no-progress")
    assert "created project" in out, out
    api = Api(labelstudio.url, labelstudio.token)
    project_id = api.project_id(Settings.load(root).claims_project_title)
    assert project_id is not None
    task = api.task_with_text(project_id, SENTENCE)
    markup_task = api.task_with_text(project_id, MARKUP)
    assert task["data"]["headline"] == HEADLINE
    assert task["data"]["before"] == BEFORE

    page = browser
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        # Log in as the admin through the form.
        page.goto(f"{labelstudio.url}/user/login/")
        page.fill('input[name="email"]', labelstudio.email)
        page.fill('input[name="password"]', labelstudio.password)
        page.click('button[type="submit"], input[type="submit"]')
        page.wait_for_url(lambda url: "/user/login" not in url)

        # The markup task: its text is shown as text, never rendered as HTML.
        area = open_task(page, labelstudio.url, project_id, markup_task["id"])
        expect(area.get_by_text(MARKUP, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        assert "<b>bold</b>" in area.inner_text()
        assert "<i>x</i>" in area.inner_text()
        assert area.locator("b, i, script").count() == 0, area.inner_html()
        page.screenshot(path=str(tmp_path / "markup.png"), full_page=True)

        # The claim: the sentence with its headline, the sentence before it and the choices.
        area = open_task(page, labelstudio.url, project_id, task["id"])
        for text in (SENTENCE, HEADLINE, BEFORE, task["data"]["after"], task["data"]["meta"]):
            expect(area.get_by_text(text, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        for choice in CHOICES:
            expect(choice_label(area, choice)).to_contain_text(choice, timeout=TIMEOUT_MS)
        expect(area.locator("input[type=checkbox]")).to_have_count(3, timeout=TIMEOUT_MS)

        # Tick "checkworthy", Submit: the server answers 201 to the annotation's POST.
        submit = page.locator('button[data-testid="bottombar-submit-button"]')
        expect(submit).to_have_text("Submit", timeout=TIMEOUT_MS)
        expect(submit).to_be_enabled(timeout=TIMEOUT_MS)
        choice_label(area, "checkworthy").click()
        expect(area.locator('input[name="checkworthy"]')).to_be_checked(timeout=TIMEOUT_MS)
        for other in ("no_claim", "not_checkworthy"):
            expect(area.locator(f'input[name="{other}"]')).not_to_be_checked()
        page.screenshot(path=str(tmp_path / "labeling.png"), full_page=True)
        annotations_url = re.compile(rf"/api/tasks/{task['id']}/annotations/?(\?.*)?$")
        with page.expect_response(
            lambda r: r.request.method == "POST" and bool(annotations_url.search(r.url)),
            timeout=TIMEOUT_MS,
        ) as posted:
            submit.click()
        assert posted.value.status == 201, f"HTTP {posted.value.status}: {posted.value.text()}"
    except BaseException:
        try:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        finally:
            print(f"screenshots in {tmp_path}; page errors: {errors}")
        raise

    # The server holds the annotation, and the builder's pull accepts it.
    annotations = api.get(f"/api/tasks/{task['id']}")["annotations"]
    assert len(annotations) == 1, annotations
    [annotation] = annotations
    assert not annotation["was_cancelled"]
    assert [
        (item["from_name"], item["to_name"], item["type"], item["value"]["choices"])
        for item in annotation["result"]
    ] == [("claim", "text", "choices", ["checkworthy"])]
    out = ok(root, "pull")
    counts = COUNTS.search(out)
    assert counts, out
    assert (int(counts["pulled"]), int(counts["accepted"]), int(counts["rejected"])) == (1, 1, 0)


def choice_label(area: Any, choice: str) -> Any:
    return area.locator(f'label.lsf-choice__checkbox:has(input[name="{choice}"])')


def open_task(page: Any, url: str, project_id: int, task_id: int) -> Any:
    """Open a task in the labeling view; the labeling area, once that task's choices are drawn."""
    from playwright.sync_api import expect

    page.goto(f"{url}/projects/{project_id}/data?task={task_id}")
    area = page.locator(".lsf-main-view__annotation")
    choice_label(area, "checkworthy").wait_for(state="visible", timeout=TIMEOUT_MS)
    # The bottom bar names the task on screen ("#42"): the one asked for, not another.
    expect(page.locator(".lsf-current-task__task-id")).to_have_text(
        re.compile(rf"^\s*#?{task_id}\s*$"), timeout=TIMEOUT_MS
    )
    return area
