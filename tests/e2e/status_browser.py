#!/usr/bin/env python3
"""Drives the status page in headless Chromium over the DevTools protocol
(python3-websocket for the protocol's websocket, nothing else):

  status_browser.py --chromium BIN --url http://127.0.0.1:P/status
      --token T --out DIR --machines N --start-cmd 'upstage ... upgrade-controller ...'

1. Without a token the page refuses: the login form, no dashboard.
2. With the token (the cookie the login form sets) the dashboard loads,
   logs in over upstaged's websocket and lists the N machines.
3. A screenshot (DIR/status-start.png), then --start-cmd starts a
   rollout; the page is read every 100 ms, never reloaded, until the
   rollout completes: the upgraded count and the stage must advance,
   and end at N and the last stage. A second screenshot
   (DIR/status-end.png).
4. The machines table filters by arch.
Prints what it saw as JSON lines; exits 1 at the first thing that does not
hold (with the reason)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # python3-websocket


def fail(msg):
    print(f"status_browser: FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


class Browser:
    def __init__(self, chromium):
        self.dir = tempfile.mkdtemp(prefix="upstage-chromium-")
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--window-size=1280,1000", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={self.dir}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.dir, "DevToolsActivePort")
        deadline = time.time() + 30
        while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
            if time.time() > deadline or self.proc.poll() is not None:
                fail("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"],
                                              timeout=30)
        self.next_id = 1

    def call(self, method, **params):
        mid = self.next_id
        self.next_id += 1
        self.ws.send(json.dumps({"id": mid, "method": method,
                                 "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    fail(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            fail(f"evaluate {expr!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def goto(self, url):
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", 20, "page load")

    def wait_for(self, expr, secs, what):
        deadline = time.time() + secs
        while time.time() < deadline:
            if self.eval(expr):
                return
            time.sleep(0.05)
        fail(f"{what}: not so within {secs} s")

    def screenshot(self, path):
        import base64
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return os.path.getsize(path)

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.dir, ignore_errors=True)


READ = """JSON.stringify({
  loaded: window.upstageLoadedAt,
  conn: document.getElementById('conn').textContent,
  state: document.getElementById('r-state').textContent,
  stage: document.getElementById('r-stage').textContent,
  stages: document.getElementById('r-stages').textContent,
  upgraded: document.getElementById('r-upgraded').textContent,
  machines: document.getElementById('r-machines').textContent,
  progress: document.getElementById('r-progress').value,
  counts: [...document.querySelectorAll('#r-counts > span')].map(
    s => s.dataset.state + '=' + s.lastChild.textContent).join(' '),
  total: document.getElementById('m-total').textContent})"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--machines", type=int, required=True)
    ap.add_argument("--start-cmd", required=True)
    a = ap.parse_args()
    b = Browser(a.chromium)
    try:
        # 1. No token: the login form, nothing of the dashboard.
        b.goto(a.url)
        if not b.eval("document.getElementById('token') !== null && "
                      "document.getElementById('rollout') === null"):
            fail("without a token the page is not refused")
        print(json.dumps({"step": "refused"}), flush=True)
        # 2. The cookie the login form sets; the dashboard, live.
        b.call("Network.enable")
        b.call("Network.setCookie", name="upstage_token", value=a.token,
               url=a.url, path="/status")
        b.goto(a.url)
        b.wait_for("document.getElementById('conn').textContent === 'live'",
                   20, "the page logged in")
        b.wait_for(f"document.getElementById('m-total').textContent === "
                   f"'({a.machines})'", 30, f"{a.machines} machines listed")
        b.wait_for("document.querySelectorAll('#binaries tr').length > 0",
                   20, "stored binaries listed")
        first = json.loads(b.eval(READ))
        size = b.screenshot(os.path.join(a.out, "status-start.png"))
        print(json.dumps({"step": "start", "screenshot": size, **first}),
              flush=True)
        # 3. The rollout, watched without a reload.
        subprocess.run(a.start_cmd, shell=True, check=True,
                       stdout=subprocess.DEVNULL)
        seen = []
        deadline = time.time() + 180
        while time.time() < deadline:
            now = json.loads(b.eval(READ))
            if not seen or (now["upgraded"], now["stage"], now["state"]) != (
                    seen[-1]["upgraded"], seen[-1]["stage"],
                    seen[-1]["state"]):
                seen.append(now)
                print(json.dumps({"step": "update", **now}), flush=True)
            if now["state"] == "completed":
                break
            time.sleep(0.1)
        last = seen[-1] if seen else {}
        if last.get("state") != "completed":
            fail(f"the page never showed the rollout completed: {last}")
        if any(s["loaded"] != first["loaded"] for s in seen):
            fail("the page was reloaded")
        ups = [int(s["upgraded"] or 0) for s in seen]
        stages = [int(s["stage"] or 0) for s in seen]
        if ups != sorted(ups) or len(set(ups)) < 3:
            fail(f"the upgraded count did not advance live: {ups}")
        if len(set(stages)) < 3 or stages != sorted(stages):
            fail(f"the stage did not advance live: {stages}")
        if int(last["upgraded"]) != a.machines or \
                int(last["machines"]) != a.machines:
            fail(f"at the end: {last['upgraded']} of {last['machines']}")
        if last["stage"] != last["stages"]:
            fail(f"at the end: stage {last['stage']} of {last['stages']}")
        if f"upgraded={a.machines}" not in last["counts"]:
            fail(f"counts at the end: {last['counts']}")
        size = b.screenshot(os.path.join(a.out, "status-end.png"))
        print(json.dumps({"step": "end", "screenshot": size,
                          "updates": len(seen), "upgraded": ups,
                          "stages": stages}), flush=True)
        # 4. Filters.
        shown = b.eval("""(() => {
          const f = document.getElementById('f-arch');
          f.value = 'arm64';
          f.dispatchEvent(new Event('change'));
          return [document.getElementById('m-shown').textContent,
                  document.querySelectorAll('#machines tr').length,
                  [...document.querySelectorAll('#machines tr')].every(
                    tr => tr.children[3].textContent === 'arm64')];
        })()""")
        if shown[0] != f"{a.machines // 2} shown" or shown[1] != a.machines // 2 \
                or not shown[2]:
            fail(f"filter by arch: {shown}")
        print(json.dumps({"step": "filter", "shown": shown[0]}), flush=True)
    finally:
        b.close()


main()
