"""Screenshots of the console's main pages for docs/console.md, taken in Debian's chromium
(Playwright) against `pushapi serve --demo` on a new SQLite database.

    python scripts/console_screenshots.py            # writes docs/console/*.png
    python scripts/console_screenshots.py --output /tmp/shots

Besides the demo tenant and its example data (src/pushapi/demo.py), it makes two more tenants
with a push each, a webhook that cannot be delivered (to show a failing one) and an operator,
then signs in as that operator and visits each page; one page is taken at a phone's width too.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.browser import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from support.server import launch_server  # noqa: E402

PUSHAPI = (sys.executable, "-m", "pushapi")


def _cli(url: str, *args: str) -> str:
    done = subprocess.run(
        [*PUSHAPI, *args, "--database-url", url], capture_output=True, text=True, check=True
    )
    return done.stdout


def _push(base_url: str, key: str, records: list[dict]) -> None:
    headers = {"ApiKey": key, "Content-Type": "application/json"}
    answer = httpx.post(f"{base_url}/v2/contactinfo", content=json.dumps(records), headers=headers)
    answer.raise_for_status()


def take(output: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    output.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/pushapi.db"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PUSHAPI_")}
        server = launch_server(
            ["--demo", "--database-url", url],
            Path(directory) / "serve.out",
            env=environment,
            cwd=Path(directory),
            stderr_path=Path(directory) / "serve.err",
        )
        try:
            demo_key = server.log().strip().splitlines()[-1]
            for code, platform in (("acme", "marketing-pro"), ("northwind", "community")):
                key = json.loads(_cli(url, "tenants", "create", code, "--platform", platform,
                                      "--json"))["api_key"]  # fmt: skip
                sam = {"ContactDetails": {"ContactId": f"{code}-1", "FirstName": "Sam"}}
                _push(server.base_url, key, [sam])
            _cli(url, "webhooks", "create", "demo", "http://127.0.0.1:9/hook")
            password = json.loads(_cli(url, "operators", "create", "admin", "--json"))["password"]
            ada = {"ContactDetails": {"ContactId": "D0001", "FirstName": "Ada"}}
            _push(server.base_url, demo_key, [ada])
            time.sleep(2)  # the webhook's first failed delivery
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
                )
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                base = f"{server.base_url}/console"

                def shot(name: str, path: str | None = None) -> None:
                    if path is not None:
                        page.goto(base + path)
                    target = output / f"{name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    taken.append(target)

                page.goto(base + "/signin")
                shot("sign-in")
                form = page.locator("form", has_text="Sign in as operator")
                form.get_by_label("Name").fill("admin")
                form.get_by_label("Password").fill(password)
                form.get_by_role("button", name="Sign in as operator").click()
                page.wait_for_url("**/console/tenants")
                shot("tenants")
                shot("tenant", "/tenants/demo")
                shot("push-log", "/tenants/demo/pushes")
                page.goto(base + "/tenants/demo/pushes?status=refused")
                page.locator("tbody tr a").first.click()
                shot("push-detail")
                shot("contacts", "/tenants/demo/contacts?q=chen")
                shot("contact", "/tenants/demo/contacts/D0001")
                shot("lists", "/tenants/demo/lists")
                shot("meetings", "/tenants/demo/meetings")
                shot("webhooks", "/tenants/demo/webhooks")
                shot("changes", "/tenants/demo/changes")
                phone = browser.new_page(viewport={"width": 390, "height": 844})
                phone.context.add_cookies(page.context.cookies())
                phone.goto(base + "/tenants/demo")
                target = output / "tenant-phone.png"
                phone.screenshot(path=str(target), full_page=True)
                taken.append(target)
                browser.close()
        finally:
            server.stop()
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "console")
    args = parser.parse_args()
    for path in take(args.output):
        print(path)


if __name__ == "__main__":
    main()
