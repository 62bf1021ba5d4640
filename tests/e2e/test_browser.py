"""Two players play a whole game on the real page, in Chromium, against the real stack.

Playwright for Python drives Chromium (CHROMIUM_PATH; unset: Debian's, else Playwright's own);
when none is there, the set-up installs Debian's `chromium` with apt-get if it runs as root,
else it fails saying what to install. Two browser contexts are two players (the page keeps its
token per window). A console error on the page fails the test; the final screens go to
artifacts/browser/.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from e2e_support import ARTIFACTS, RunningStack, eventually
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Playwright, sync_playwright

# Slow enough for a browser to click inside the 3-tick weapon window on a busy machine.
TICK_SECONDS = "0.3"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REDIS_DB = 12
SHOTS = ARTIFACTS / "browser"
DEBIAN_CHROMIUM = "/usr/bin/chromium"


def ensure_chromium(playwright: Playwright) -> str | None:
    """The Chromium to drive.

    CHROMIUM_PATH when set (here: Debian's). Unset, Debian's /usr/bin/chromium if present, else the
    Chromium Playwright installed for itself (CI runs `playwright install chromium`; None tells
    Playwright to use it), else Debian's installed with apt-get when running as root.
    """
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        if Path(configured).exists():
            return configured
        pytest.fail(f"CHROMIUM_PATH={configured} does not exist")
    if Path(DEBIAN_CHROMIUM).exists():
        return DEBIAN_CHROMIUM
    if Path(playwright.chromium.executable_path).exists():
        return None
    apt = shutil.which("apt-get")
    if os.geteuid() == 0 and apt:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in ([apt, "update", "-q"], [apt, "install", "-y", "-q", "chromium"]):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                pytest.fail(f"`{' '.join(argv)}` failed:\n{done.stderr[-2000:]}")
        found = DEBIAN_CHROMIUM if Path(DEBIAN_CHROMIUM).exists() else shutil.which("chromium")
        if found:
            return found
    pytest.fail(
        f"no Chromium at {DEBIAN_CHROMIUM}: install Debian's `chromium` (apt-get install "
        "chromium), run `python -m playwright install chromium`, or set CHROMIUM_PATH"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        executable = ensure_chromium(playwright)
        chromium = playwright.chromium.launch(
            executable_path=executable, args=LAUNCH_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


class Window:
    """One player's browser context and page, recording every console error and page exception."""

    def __init__(self, browser: Browser, url: str, label: str) -> None:
        self.label = label
        self.context = browser.new_context(viewport={"width": 1100, "height": 900})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.sockets: list[str] = []  # the address of every WebSocket the page opened
        self.page.on("websocket", lambda ws: self.sockets.append(ws.url))
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='true']", state="attached")

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} at {message.location}")

    def testid(self, name: str, extra: str = "") -> str:
        return f"[data-testid='{name}']{extra}"

    def sign_in(self, username: str) -> None:
        self.page.fill(self.testid("username"), username)
        self.page.click(self.testid("sign-in"))
        self.page.wait_for_selector(self.testid("lobby-panel"), state="visible")
        assert self.page.text_content(self.testid("whoami-name")) == username

    def choose_fighter_and_start(self, fighter: str) -> None:
        self.page.click(self.testid("fighter", f"[data-fighter='{fighter}']"))
        start = self.page.locator(self.testid("start-battle"))
        start.wait_for(state="visible")
        eventually(start.is_enabled, what=f"{self.label}: start battle enabled")
        start.click()

    def pick_if_open(self, weapon: int) -> None:
        """Pick `weapon` while the weapon window is open (the last valid pick counts)."""
        page = self.page
        if page.get_attribute(self.testid("weapons"), "data-open") != "true":
            return
        button = page.locator(self.testid("weapon", f"[data-weapon='{weapon}']"))
        try:
            if button.is_enabled():
                button.click(timeout=500)
        except Error:
            pass  # the window closed between the check and the click: next exchange

    def click_for_answer(self, selector: str, path: str) -> dict[str, Any]:
        """Click, and return the matchmaker's JSON answer to the request to `path` it makes."""
        with self.page.expect_response(lambda r: path in r.url and r.request.method == "POST") as r:
            self.page.click(selector)
        answer: dict[str, Any] = r.value.json()
        return answer

    def socket_query(self) -> dict[str, list[str]]:
        """The query of the game socket the page opened (one per game)."""
        eventually(lambda: len(self.sockets) == 1, what=f"{self.label}: one game socket")
        return parse_qs(urlsplit(self.sockets[0]).query)

    def attribute(self, testid: str, name: str) -> str | None:
        return self.page.get_attribute(self.testid(testid), name)

    def game_over(self) -> bool:
        return self.page.locator(self.testid("game-over")).is_visible()

    def close(self) -> None:
        self.context.close()


def test_two_browser_players_play_a_full_game(stack: RunningStack, browser: Browser) -> None:
    url = stack.config.page_url
    suffix = secrets.token_hex(3)
    host_name, guest_name = f"alice-{suffix}", f"bob-{suffix}"
    # The page signs in through /dev/token too: the same name always gets the same user id.
    host_id = stack.arcade.sign_in(host_name).user_id
    guest_id = stack.arcade.sign_in(guest_name).user_id
    host, guest = Window(browser, url, "host"), Window(browser, url, "guest")
    try:
        host.sign_in(host_name)
        guest.sign_in(guest_name)

        created = host.click_for_answer(host.testid("create-game"), "/create_game")
        host.page.wait_for_selector(host.testid("game-panel"), state="visible")
        game_id = eventually(
            lambda: host.page.get_attribute(host.testid("game-id"), "data-game-id"),
            what="the host's page shows its game id",
        )

        # The game is listed once the host's socket is in; the guest refreshes until it shows.
        join = guest.testid("join-game", f"[data-game-id='{game_id}']")

        def listed() -> bool:
            guest.page.click(guest.testid("refresh-games"))
            return guest.page.locator(join).count() == 1

        eventually(listed, interval=0.5, what="the game in the guest's open games")
        joined = guest.click_for_answer(join, "/join_game")
        guest.page.wait_for_selector(guest.testid("game-panel"), state="visible")
        # Each page connects with the game token and the seat token of its own answer (issue 13).
        assert created["seat_token"] != joined["seat_token"]
        for window, answer, user_id in ((host, created, host_id), (guest, joined, guest_id)):
            assert window.socket_query() == {
                "game_token": [answer["token"]],
                "user_id": [user_id],
                "seat_token": [answer["seat_token"]],
            }
        eventually(
            lambda: host.page.get_attribute(host.testid("p2-name"), "data-user-id") == guest_id,
            what="the host sees the guest",
        )

        host.choose_fighter_and_start("aru")
        guest.choose_fighter_and_start("mai")
        host.page.wait_for_selector(host.testid("battle"), state="visible")

        # The host throws rock, the guest scissors: every exchange the host lands a blow.
        deadline = time.monotonic() + 180
        while not (host.game_over() and guest.game_over()):
            assert time.monotonic() < deadline, "the game did not end"
            host.pick_if_open(0)
            guest.pick_if_open(2)
            time.sleep(0.05)

        winners = {
            w.page.get_attribute(w.testid("winner"), "data-winner-id") for w in (host, guest)
        }
        assert len(winners) == 1, f"the two pages disagree on the winner: {winners}"
        (winner_id,) = winners
        assert winner_id in (host_id, guest_id)
        loser_id = guest_id if winner_id == host_id else host_id
        results = {
            w.label: w.page.get_attribute(w.testid("winner"), "data-result") for w in (host, guest)
        }
        assert sorted(results.values()) == ["loss", "win"]

        SHOTS.mkdir(parents=True, exist_ok=True)
        host.page.screenshot(path=str(SHOTS / "final-host.png"), full_page=True)
        guest.page.screenshot(path=str(SHOTS / "final-guest.png"), full_page=True)

        # The game reached the stats tracker through the stream.
        eventually(
            lambda: stack.arcade.stats(winner_id)["wins"] in (1, "1"), what="the winner's win"
        )
        assert stack.arcade.stats(loser_id)["losses"] in (1, "1")
        top = stack.arcade.top_ten()
        assert top[0]["user_id"] == winner_id

        errors = host.errors + guest.errors
        assert not errors, "the page logged errors:\n" + "\n".join(errors)
    finally:
        host.close()
        guest.close()
