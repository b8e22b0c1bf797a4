"""Screenshots of a running Odoo (``make demo``) as a given user, in headless Chromium.

    python tools/screenshots.py --url http://localhost:8069 --db ksef_demo \
        --login ksef_admin --password ksef_admin --out /tmp/shots \
        tokens=/odoo/action-l10n_pl_ksef_token.ksef_token_action ...

Each NAME=PATH argument is opened after logging in (JSON-RPC ``/web/session/authenticate``,
the session cookie handed to Chromium) and saved as OUT/LOGIN-NAME.png once the page is
idle. A PATH may end with ``#click=STEP|STEP...`` where a STEP is a CSS selector to click, or
``CSS=>text`` to type text into that field, before the picture is taken (for a wizard
opened by a button). For looking at the product as a person would; not a test.
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import requests
import websocket


def authenticate(url, db, login, password):
    session = requests.Session()
    answer = session.post(
        f"{url}/web/session/authenticate",
        json={"jsonrpc": "2.0", "params": {"db": db, "login": login, "password": password}},
        timeout=60,
    ).json()
    if answer.get("error") or not answer.get("result", {}).get("uid"):
        raise SystemExit(f"login {login} failed: {answer.get('error')}")
    return session.cookies.get("session_id")


class Browser:
    def __init__(self, width, height):
        self.profile = tempfile.mkdtemp(prefix="ksef-shots-")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        self.proc = subprocess.Popen(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        for _ in range(100):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.1)
        port = open(port_file).read().split()[0]
        tabs = requests.get(f"http://127.0.0.1:{port}/json", timeout=10).json()
        page = next(t for t in tabs if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self.next_id = 0
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_idle(self, seconds=20):
        """Wait until the web client shows a view and no RPC is pending."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            ready = self.evaluate(
                "!!document.querySelector('.o_action_manager .o_view_controller, .modal') "
                "&& !document.querySelector('.o_blockUI, .o_loading_indicator')"
            )
            if ready:
                time.sleep(1.0)
                return
            time.sleep(0.3)

    def shot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://localhost:8069")
    parser.add_argument("--db", default="ksef_demo")
    parser.add_argument("--login", required=True)
    parser.add_argument("--password")
    parser.add_argument("--out", default="/tmp/ksef-shots")
    parser.add_argument("--size", default="1440x900")
    parser.add_argument("pages", nargs="+", help="NAME=PATH[#click=CSS]")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    session_id = authenticate(args.url, args.db, args.login, args.password or args.login)
    width, height = (int(v) for v in args.size.split("x"))
    browser = Browser(width, height)
    try:
        host = urllib.parse.urlparse(args.url).hostname
        browser.call(
            "Network.setCookie", name="session_id", value=session_id, domain=host, path="/"
        )
        for page in args.pages:
            name, _, target = page.partition("=")
            path, _, click = target.partition("#click=")
            browser.call("Page.navigate", url=args.url + path)
            time.sleep(1.0)
            browser.wait_idle()
            for step in filter(None, click.split("|")):
                if "=>" in step:  # type text into a field, as a person would
                    selector, _, text = step.partition("=>")
                    browser.evaluate(
                        f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
                        f" el.focus(); el.value = {json.dumps(text)};"
                        " el.dispatchEvent(new Event('input', {bubbles: true}));"
                        " el.dispatchEvent(new Event('change', {bubbles: true})); })()"
                    )
                else:
                    browser.evaluate(f"document.querySelector({json.dumps(step)})?.click()")
                time.sleep(1.5)
                browser.wait_idle()
            out = os.path.join(args.out, f"{args.login}-{name}.png")
            browser.shot(out)
            errors = browser.evaluate(
                "[...document.querySelectorAll('.o_error_dialog, .o_notification')]"
                ".map(e => e.innerText).join(' | ')"
            )
            print(out, ("ERROR/NOTICE: " + errors) if errors else "")
    finally:
        browser.close()


if __name__ == "__main__":
    main()
