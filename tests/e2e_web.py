#!/usr/bin/python3
"""End-to-end: the manager's back office (tillpoints-web) in a real browser.

A real headless Chromium, driven by Debian's chromedriver through Debian's
python3-selenium, talks to the real tillpoints-web of this build, which
loads the real plugin on a real SQLite file. The database is set up the way
a store has it: managers enrolled and members added with the manager CLI,
sales rung up on the reference till, one of them without a member (the
missed scan a manager credits later; docs/DESIGN.md §6). Then, in the
browser, what a manager does (docs/DESIGN.md §15):

  sign in (a wrong PIN first: the sentence; then with the keyboard alone)
  -> find a customer by phone -> their page and balance -> credit the
  missed visit by its receipt code on the retro-visit form -> the activity
  log -> the dashboard's figure and chart -> move the credit to another
  customer with the correct-credit form -> both balances -> a CSV import
  with one bad line (the line and its sentence, nothing applied) -> the
  retro form at phone width -> sign out.

Every result the browser shows is also checked with the CLI on the same
database, so a page that looks right but did the wrong thing fails.

Run with Debian's Python (python3-selenium is a Debian package):
    BUILD=build /usr/bin/python3 tests/e2e_web.py [--screenshots DIR]
With --screenshots DIR it also saves the dashboard and the retro-visit form
at desktop (1280x900) and phone (390x844) widths into DIR.

Prints "ok - ..." per check; the first failure prints what was expected
and what was seen, and exits 1. Waits are for what the server reports (its
ready line, the elements of a page) and end as soon as that is there;
TP_E2E_WAIT (seconds, default 120) only bounds a stuck run, so a slow or
sanitizer build does not trip it.
"""
import argparse
import datetime
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException,
                                        StaleElementReferenceException,
                                        TimeoutException, WebDriverException)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

BUILD = os.environ.get("BUILD", "build")
WEB = os.path.join(BUILD, "tillpoints-web")
CLI = os.path.join(BUILD, "tillpoints")
TILL = os.path.join(BUILD, "tillpoints-till")
PLUGIN = os.path.join(BUILD, "tillpoints.so")
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(TOP, "web")
TIMEOUT = float(os.environ.get("TP_E2E_WAIT", "120"))

MGR1, PIN1 = "mgr-1", "975310"  # signs in
MGR2, PIN2 = "mgr-2", "864209"  # approves the credits (so approver != staff)
WRONG_PIN = "111111"
WRONG = "Wrong manager id or PIN; after 5 wrong PINs in a row a manager is locked."
ALICE, ALICE_PHONE_TYPED, ALICE_PHONE = "M-1001", "0151 0000 0001", "+4915100000001"
BOB = "M-1002"

DESKTOP = (1280, 900)
PHONE = (390, 844)


class Failure(Exception):
    pass


# How Chromium sometimes says an element's document was replaced, instead
# of StaleElementReferenceException.
GONE_NODE = "does not belong to the document"


def gone(element):
    """Whether `element`'s document has been replaced (a new page)."""
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as e:
        if GONE_NODE in str(e):
            return True
        raise


def ok(what):
    print(f"ok - {what}", flush=True)


def fail(what, expected, seen):
    raise Failure(f"{what}\n  expected: {expected}\n  seen:     {seen}")


def expect(cond, what, expected, seen):
    if not cond:
        fail(what, expected, seen)
    ok(what)


# ------------------------------------------------------------ the store --

class Store:
    """The temp dir: config, database, the CLI and the till on it."""

    def __init__(self, work):
        self.work = work
        self.conf = os.path.join(work, "tillpoints.conf")
        # [retro]: the missed visit is credited the same day, well inside
        # the window; the PIN policy is the default one the sentences name.
        with open(self.conf, "w") as f:
            f.write("[store]\nlocation = shop-7\nterminal = till-3\ndatabase = web.db\n"
                    "[program]\npoints_per_unit = 1\nunit_minor = 100\n"
                    "[retro]\nwindow_days = 30\npin_max_failures = 5\n"
                    "max_points_per_credit = 500\n")

    def cli(self, *args, stdin=None, check=True):
        r = subprocess.run([CLI, "--plugin", PLUGIN, "--config", self.conf, *args],
                           input=stdin, capture_output=True, text=True, timeout=TIMEOUT)
        if check and r.returncode != 0:
            fail(f"tillpoints {' '.join(args)}", "exit 0", f"exit {r.returncode}: {r.stderr.strip()}")
        return r

    def json(self, *args):
        r = self.cli("--json", *args, check=False)
        try:
            return json.loads(r.stdout)
        except ValueError:
            fail(f"tillpoints --json {' '.join(args)}", "one JSON document", r.stdout + r.stderr)

    def balance(self, code):
        return self.json("balance", code).get("balance")

    def till(self, script):
        path = os.path.join(self.work, "sales.till")
        with open(path, "w") as f:
            f.write(script)
        r = subprocess.run([TILL, "--plugin", PLUGIN, "--config", self.conf, "--script", path],
                           capture_output=True, text=True, timeout=TIMEOUT)
        if r.returncode != 0:
            fail("the reference till rings up the sales", "exit 0",
                 f"exit {r.returncode}: {r.stdout[-800:]} {r.stderr[-800:]}")
        return r.stdout


def set_up_store(store):
    for mid, name, pin in ((MGR1, "Mia Manager", PIN1), (MGR2, "Max Manager", PIN2)):
        store.cli("manager", "add", mid, "--name", name, "--staff", "owner", stdin=pin + "\n")
    store.cli("member", "add", ALICE, "--name", "Alice Example", "--phone", ALICE_PHONE_TYPED)
    store.cli("member", "add", BOB, "--name", "Bob Sample")
    store.cli("member", "add", "M-1003", "--name", "Carol Third", "--email", "carol@example.com")
    # S-2 and S-4 are completed WITHOUT a member: the missed scans. The till
    # prints each one's receipt code, which the manager types on the form.
    out = store.till("staff anna\n"
                     "begin S-1\nscan M-1001\nitem MILK 9.99\npay\n"
                     "begin S-2\nitem WINE 27.50\npay\n"
                     "begin S-3\nscan M-1002\nitem BREAD 3.50\npay\n"
                     "begin S-4\nitem TEA 12.00\npay\n")
    codes = dict(re.findall(r"Receipt code for a later claim: (TPR1\|shop-7\|(S-\d)\|[0-9a-f]+)",
                            out))
    codes = {rid: code for code, rid in codes.items()}
    expect("S-2" in codes and "S-4" in codes,
           "the till printed a receipt code for each sale without a member",
           "codes for S-2 and S-4", out[-600:])
    expect(store.balance(ALICE) == 9 and store.balance(BOB) == 3,
           "the members' sales earned their points (CLI: M-1001 9, M-1002 3)",
           "9 and 3", (store.balance(ALICE), store.balance(BOB)))
    return codes


# ----------------------------------------------------------- the server --

class Server:
    def __init__(self, store):
        self.err_path = os.path.join(store.work, "web.err")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [WEB, "--plugin", PLUGIN, "--config", store.conf, "--listen", "127.0.0.1:0",
             "--assets", ASSETS],
            stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL)
        lines = queue.Queue()

        def read():
            for line in self.proc.stdout:
                lines.put(line.decode(errors="replace"))
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        try:
            line = lines.get(timeout=TIMEOUT)
        except queue.Empty:
            line = "(nothing)"
        m = re.fullmatch(r"tillpoints-web ready: (http://127\.0\.0\.1:(\d+))/\n", line or "")
        if not m:
            fail("tillpoints-web prints its ready line", "tillpoints-web ready: http://127.0.0.1:PORT/",
                 f"{line!r}; stderr: {self.stderr_tail()}")
        self.base = m.group(1)
        ok(f"tillpoints-web is ready at {self.base}/")

    def stderr_tail(self):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")

    def stop(self):
        """SIGTERM: a clean stop, exit 0 (a sanitizer build reports leaks
        and errors at exit through the status too)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


# ---------------------------------------------------------- the browser --

def browser(work):
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    opts.add_argument("--headless=new")
    # Chromium refuses to start its sandbox as root; CI runs the suite as
    # root. The only pages it opens are this test's own server on loopback.
    if os.geteuid() == 0:
        opts.add_argument("--no-sandbox")
    # /dev/shm is small in containers; Chromium then crashes its renderer.
    opts.add_argument("--disable-dev-shm-usage")
    opts.add_argument(f"--user-data-dir={os.path.join(work, 'chromium')}")
    opts.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    # The driver's path is given: no selenium-manager, no download.
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver",
                                            log_path=os.path.join(work, "chromedriver.log")),
                            options=opts)


class Page:
    """The browser, with waits that end when the page shows what is asked."""

    def __init__(self, driver, base):
        self.d = driver
        self.base = base

    def url(self, path):
        return self.base + path

    def path(self):
        return urllib.parse.urlsplit(self.d.current_url).path

    def get(self, path):
        self.d.get(self.url(path))
        self.loaded()

    def loaded(self):
        self.wait(lambda: self.d.execute_script("return document.readyState") == "complete",
                  "the page loads", "document.readyState complete")

    def wait(self, pred, what, expected, seen=None):
        def safe(_):
            try:
                return pred()
            except (NoSuchElementException, StaleElementReferenceException):
                return False
            except WebDriverException as e:
                # Chromium sometimes reports a node of the document that was
                # just replaced this way instead of as a stale element.
                if GONE_NODE in str(e):
                    return False
                raise
        try:
            return WebDriverWait(self.d, TIMEOUT, poll_frequency=0.05).until(safe)
        except TimeoutException:
            fail(what, expected, seen() if seen else self.describe())

    def describe(self):
        try:
            body = self.d.find_element(By.TAG_NAME, "body").text
        except WebDriverException:
            body = "(no body)"
        return f"{self.d.current_url}: {body[:1200]!r}"

    def el(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def els(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def has(self, css):
        return len(self.els(css)) > 0

    def text(self, css):
        return self.el(css).text.strip()

    def need(self, css, what):
        self.wait(lambda: self.has(css), what, f"an element {css}")
        return self.el(css)

    def submit(self, element):
        """Clicks (or presses Enter on) a form's button and waits for the
        page the server answers with (a new document)."""
        old = self.el("html")
        element.click()
        self.wait(lambda: gone(old), "the form's answer arrives", "a new page")
        self.loaded()

    def type(self, css, value, clear=True):
        e = self.need(css, f"the field {css} is on the page")
        if clear:
            e.clear()
        e.send_keys(value)
        return e

    def unlabelled(self):
        """Names of the visible form controls without a label."""
        return self.d.execute_script("""
            return Array.from(document.querySelectorAll('input, select, textarea'))
              .filter(e => !['hidden', 'submit', 'button'].includes(e.type))
              .filter(e => !(Array.from(e.labels || []).some(l => l.textContent.trim())
                             || (e.getAttribute('aria-label') || '').trim()))
              .map(e => e.name || e.id || e.outerHTML.slice(0, 80));""")

    def size(self, wh, mobile):
        """The viewport exactly wh, as a phone (mobile: the page's viewport
        meta applies) or a desktop."""
        self.d.set_window_size(*wh)
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": wh[0], "height": wh[1], "deviceScaleFactor": 1, "mobile": mobile})


def labelled(p, where):
    missing = p.unlabelled()
    expect(not missing, f"{where}: every form field has a label", "no field without a label",
           missing)


def screenshot(p, shots, name):
    if shots:
        path = os.path.join(shots, name)
        p.d.save_screenshot(path)
        print(f"# screenshot {path}", flush=True)


def chart_data(p, chart_id):
    """What Chart.js itself holds for the canvas chart_id: the labels and
    each dataset's label and numbers."""
    data = p.d.execute_script(
        "const c = Chart.getChart(arguments[0]); if (!c) return null;"
        "return {labels: c.data.labels.map(String),"
        " sets: c.data.datasets.map(s => ({label: String(s.label), data: s.data.map("
        " v => (v !== null && typeof v === 'object') ? Number(v.y) : Number(v))}))};", chart_id)
    if data is None:
        fail(f"Chart.getChart('{chart_id}') finds the chart", "a Chart.js chart", None)
    return data


def by_label(data, label, dataset=0):
    """chart data: the value at `label` in the dataset (0 when absent)."""
    if label not in data["labels"] or dataset >= len(data["sets"]):
        return 0
    v = data["sets"][dataset]["data"][data["labels"].index(label)]
    return v if v == v else 0


def today_in(data, dataset_label):
    """chart data: the named dataset's value on today's label (the server's
    days start at its local midnight, docs/DESIGN.md §15)."""
    sets = [s for s in data["sets"] if s["label"] == dataset_label]
    if not sets or not data["labels"]:
        fail(f"the chart has the dataset {dataset_label!r} and its days", "labels and that dataset", data)
    today = {datetime.date.today().isoformat(),
             datetime.datetime.now(datetime.timezone.utc).date().isoformat()}
    idx = [i for i, lab in enumerate(data["labels"]) if lab[:10] in today]
    if not idx:
        fail("the daily chart has today among its days", sorted(today), data["labels"][-3:])
    v = sets[0]["data"][idx[-1]]
    return v if v == v else 0


def dashboard(p):
    """Loads the dashboard and waits until dashboard.js has drawn every
    chart; then #today-retro (credits today), and from Chart.js: the retro
    credits by approving manager (chart-retro) and today's retro points
    (chart-points, dataset "Retro")."""
    p.get("/")
    p.wait(lambda: p.el("body").get_attribute("data-ready") == "1",
           "the dashboard draws its charts (body[data-ready=1])", 'data-ready="1"',
           lambda: f"data-ready={p.el('body').get_attribute('data-ready')!r}; "
                   f"console: {console(p)}")
    retro = int(p.text("#today-retro"))
    by_manager = chart_data(p, "chart-retro")
    pts = chart_data(p, "chart-points")
    return retro, by_label(by_manager, MGR2), today_in(pts, "Retro"), by_manager, pts


def console(p):
    try:
        return [e.get("message") for e in p.d.get_log("browser")][-5:]
    except WebDriverException:
        return "(no log)"


def activity_rows(p):
    return p.d.execute_script("""
        return Array.from(document.querySelectorAll('#activity tr[data-id]')).map(tr => {
          const o = {id: tr.dataset.id};
          for (const c of ['member', 'kind', 'points', 'staff', 'approver', 'receipt', 'reason']) {
            const td = tr.querySelector('td.' + c); o[c] = td ? td.textContent.trim() : null; }
          return o; });""")


def points(text):
    m = re.fullmatch(r"\+?(-?\d+)(?: points?)?", (text or "").strip())
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------- steps --

def sign_in_checks(p):
    p.get("/")
    expect(p.path() == "/signin", "without a session / redirects to /signin", "/signin",
           p.d.current_url)
    p.need("form#signin", "the sign-in page has form#signin")
    expect(p.el("#pin").get_attribute("type") == "password", "the PIN field is a password field",
           'type="password"', p.el("#pin").get_attribute("type"))
    labelled(p, "sign-in")

    # A wrong PIN: the plugin's sentence, and still no session.
    p.type("#manager", MGR1)
    p.type("#pin", WRONG_PIN)
    p.submit(p.el("#signin-submit"))
    err = p.need("#error", "a wrong PIN shows #error")
    expect(err.text.strip() == WRONG and err.is_displayed(),
           "a wrong PIN shows the plugin's sentence in #error", WRONG, err.text)
    expect(p.el("#error").get_attribute("role") == "alert", "#error is announced (role=alert)",
           "alert", p.el("#error").get_attribute("role"))
    p.get("/members")
    expect(p.path() == "/signin", "after a wrong PIN there is still no session", "/signin",
           p.d.current_url)

    # The keyboard alone: Tab to the manager id, type, Tab to the PIN,
    # type, Enter. Tab order and Enter-submits are what a keyboard user has.
    p.get("/signin")
    def active():
        return p.d.execute_script("return document.activeElement && document.activeElement.id")
    for _ in range(15):
        if active() == "manager":
            break
        ActionChains(p.d).send_keys(Keys.TAB).perform()
    expect(active() == "manager", "keyboard: Tab reaches the manager id field", "#manager focused",
           active())
    ActionChains(p.d).send_keys(MGR1).send_keys(Keys.TAB).perform()
    expect(active() == "pin", "keyboard: the next Tab goes to the PIN", "#pin focused", active())
    old = p.el("html")
    ActionChains(p.d).send_keys(PIN1).send_keys(Keys.ENTER).perform()
    p.wait(lambda: gone(old), "keyboard: Enter submits the sign-in", "a new page")
    p.loaded()
    expect(p.path() == "/" and p.has("#today-retro"),
           "keyboard alone signs in: the dashboard is shown", "/ with #today-retro", p.describe())
    cookies = {c["name"]: c for c in p.d.get_cookies()}
    s = cookies.get("tp_session", {})
    expect(s.get("httpOnly") is True and s.get("sameSite") == "Strict",
           "the session cookie is HttpOnly and SameSite=Strict", "httpOnly, Strict", s)
    expect(p.has("nav#nav") and p.has("form#signout"),
           "signed-in pages have the navigation and the sign-out form", "nav#nav, form#signout",
           p.describe())


def find_and_open_member(p, store):
    p.get("/members")
    labelled(p, "members search")
    q = p.type("#q", ALICE_PHONE_TYPED)
    old = p.el("html")
    q.send_keys(Keys.ENTER)
    p.wait(lambda: gone(old), "the search is submitted", "a new page")
    p.loaded()
    rows = p.els("#members tr a[href^='/members/']")
    codes = [a.text.strip() for a in rows]
    expect(codes == [ALICE], f"searching by phone ({ALICE_PHONE_TYPED}) finds exactly {ALICE}",
           [ALICE], codes or p.describe())
    row = p.d.find_element(By.XPATH, f"//table[@id='members']//tr[.//a[@href='/members/{ALICE}']]")
    expect(ALICE_PHONE in row.text and "Alice Example" in row.text,
           "the result row shows the name and the full phone number",
           f"Alice Example and {ALICE_PHONE}", row.text)
    p.submit(row.find_element(By.CSS_SELECTOR, f"a[href='/members/{ALICE}']"))
    expect(p.path() == f"/members/{ALICE}", "the code links to the member's page",
           f"/members/{ALICE}", p.d.current_url)
    expect("Alice Example" in p.text("h1"), "the member page's heading names the member",
           "Alice Example", p.text("h1"))
    bal = p.text("#balance")
    expect(bal == str(store.balance(ALICE)) == "9", "the member page shows the balance (9, as the CLI)",
           "9", bal)


def form_step(p, what):
    p.need("form#uiform", f"{what}: the form is shown (form#uiform)")
    return p.text("#form-title")


def credit_missed_visit(p, store, code, shots):
    # From the member's page: "Credit a missed visit".
    link = p.need(f"a[href='/forms/retro-visit?member={ALICE}']",
                  "the member page links to the retro-visit form for this member")
    p.submit(link)
    expect(re.fullmatch(r"/form/[^/]+", p.path()) is not None,
           "the link opens the plugin's retro-visit form at /form/ID", "/form/ID", p.d.current_url)
    title = form_step(p, "retro-visit")
    if p.has("#f-customer"):
        # The find step, when the server shows it (the contract has it
        # answered from member=): the customer's phone as typed.
        labelled(p, "retro-visit, find the customer")
        p.type("#f-customer", ALICE_PHONE_TYPED)
        p.submit(p.el("#form-submit"))
        title = form_step(p, "retro-visit after the customer")
    p.need("#f-receipt", "the receipt step asks for the receipt (#f-receipt)")
    who = p.text("#f-who") if p.has("#f-who") else ""
    expect("Alice Example" in who and ALICE in who,
           "the receipt step shows who is credited (the found customer)",
           f"Alice Example ({ALICE})", f"{title!r} / who={who!r}")
    labelled(p, "retro-visit, pick the receipt")
    p.type("#f-receipt", code)
    p.submit(p.el("#form-submit"))

    form_step(p, "retro-visit approval")
    pts = p.text("#f-points") if p.has("#f-points") else p.describe()
    expect(points(pts) == 27, "the approval step shows the points from the journal (27.50 -> 27)",
           "27", pts)
    info = p.text("#f-receipt_info") if p.has("#f-receipt_info") else ""
    expect("S-2" in info, "the approval step names the receipt", "S-2", info)
    labelled(p, "retro-visit, approve")
    expect(p.el("#f-pin").get_attribute("type") == "password",
           "the manager's PIN on the form is a password field", "password",
           p.el("#f-pin").get_attribute("type"))
    if shots:
        p.type("#f-reason", "phone was flat")
        p.type("#f-approver", MGR2)
        screenshot(p, shots, "retro-visit-desktop.png")

    # A wrong PIN first: the field error, and nothing written.
    p.type("#f-reason", "phone was flat")
    p.type("#f-approver", MGR2)
    p.type("#f-pin", WRONG_PIN)
    p.submit(p.el("#form-submit"))
    err = p.text("#err-pin") if p.has("#err-pin") else p.describe()
    expect(err == WRONG, "a wrong approval PIN shows the plugin's sentence at the PIN (#err-pin)",
           WRONG, err)
    expect(store.json("activity", "--type", "retro")["entries"] == [],
           "after the wrong PIN nothing was credited (CLI activity --type retro)", "no entries",
           store.json("activity", "--type", "retro")["entries"])

    p.type("#f-reason", "phone was flat")
    p.type("#f-approver", MGR2)
    p.type("#f-pin", PIN2)
    p.submit(p.el("#form-submit"))
    res = p.need("#form-result", "the credited form shows #form-result")
    expect("done" in (res.get_attribute("class") or "").split()
           and "Credited 27 points" in res.text and "Alice Example" in res.text,
           "the form says the credit is done", "class done, 'Credited 27 points to Alice Example'",
           f"class={res.get_attribute('class')!r} {res.text!r}")
    e = store.json("activity", "--type", "retro")["entries"]
    expect(len(e) == 1 and e[0]["member"] == ALICE and e[0]["points"] == 27
           and e[0]["receipt"] == "S-2" and e[0]["approver"] == MGR2 and e[0]["staff"] == MGR1
           and e[0]["reason"] == "phone was flat",
           "the database holds the retro credit (CLI: M-1001 +27 for S-2, staff mgr-1, approver mgr-2)",
           "one entry", e)


def activity_check(p):
    p.get("/activity?kind=retro")
    rows = activity_rows(p)
    expect(len(rows) == 1 and rows[0]["member"] == ALICE and rows[0]["kind"] == "retro"
           and points(rows[0]["points"]) == 27 and rows[0]["approver"] == MGR2
           and rows[0]["staff"] == MGR1 and rows[0]["receipt"] == "S-2"
           and rows[0]["reason"] == "phone was flat",
           "/activity?kind=retro shows the credit: M-1001, retro, 27, staff mgr-1, approver mgr-2, S-2",
           "that one row", rows or p.describe())
    p.get("/activity?kind=earn")
    kinds = {r["kind"] for r in activity_rows(p)}
    expect(kinds and "retro" not in kinds, "the kind filter works (kind=earn shows no retro row)",
           "earn rows only", kinds)


def correct_credit(p, store):
    p.get("/forms/correct-credit?prefill=S-2")
    expect(re.fullmatch(r"/form/[^/]+", p.path()) is not None,
           "/forms/correct-credit opens the plugin's correction form", "/form/ID", p.d.current_url)
    form_step(p, "correct-credit")
    labelled(p, "correct-credit")
    p.type("#f-receipt", "S-2")
    p.type("#f-customer", BOB)
    p.type("#f-reason", "credited the wrong customer")
    p.type("#f-approver", MGR2)
    p.type("#f-pin", PIN2)
    p.submit(p.el("#form-submit"))
    res = p.need("#form-result", "the correction shows #form-result")
    expect("done" in (res.get_attribute("class") or "").split() and "Bob Sample" in res.text,
           "the correction is done and names the right customer", "class done, Bob Sample",
           f"class={res.get_attribute('class')!r} {res.text!r}")
    for code, want in ((ALICE, 9), (BOB, 30)):
        p.get(f"/members/{code}")
        shown = p.text("#balance")
        cli = store.balance(code)
        expect(shown == str(want) and cli == want,
               f"after the correction {code}'s page shows {want} points, as the CLI",
               f"{want} (page and CLI)", f"page {shown}, CLI {cli}")


def import_check(p, store):
    csv = os.path.join(store.work, "members.csv")
    with open(csv, "w") as f:
        f.write("code,name,phone,email,points,reason\n"
                "M-3001,Good Row,,,10,opening balance\n"
                "M-3002,Bad Row,,,ten,opening balance\n"
                "M-3003,Other Good,,,5,opening balance\n")
    # The plugin's own sentence for line 3, from a CLI dry run (it writes
    # nothing): the page must show exactly that.
    dry = store.json("import", csv, "--dry-run", "--staff", "mgr-1")
    want = [pr["message"] for pr in dry.get("problems", []) if pr.get("line") == 3]
    expect(len(want) == 1, "the CLI's dry run names line 3", "one problem at line 3", dry)
    p.get("/import")
    labelled(p, "import")
    p.need("#file", "the import page has the file field").send_keys(csv)
    dry_box = p.el("#dry-run")
    if dry_box.is_selected():
        dry_box.click()
    p.submit(p.el("#import-submit"))
    expect(re.fullmatch(r"/import/[^/]+", p.path()) is not None,
           "the upload answers with the import's page /import/JOB", "/import/JOB", p.d.current_url)
    # The page refreshes itself while the job runs; wait for its end.
    p.wait(lambda: p.el("#import-state").get_attribute("data-state") in ("done", "refused", "failed"),
           "the import finishes", "data-state done, refused or failed")
    state = p.el("#import-state").get_attribute("data-state")
    problems = p.d.execute_script("""
        return Array.from(document.querySelectorAll('#import-problems tr')).filter(
          tr => tr.querySelector('td.line')).map(tr => [tr.querySelector('td.line').textContent.trim(),
          (tr.querySelector('td.problem') || {textContent: ''}).textContent.trim()]);""")
    expect(problems == [["3", want[0]]],
           "the import page names line 3 and the plugin's sentence for it",
           [["3", want[0]]], problems)
    summary = p.d.execute_script("""
        const o = {}; for (const dt of document.querySelectorAll('#import-summary dt')) {
          const dd = dt.nextElementSibling; o[dt.textContent.trim().toLowerCase()] = dd ? dd.textContent.trim() : null; }
        return o;""")
    applied = next((v for k, v in summary.items() if k.startswith("applied")), None)
    expect(applied is not None and applied.lower().startswith("no"),
           f"the summary says nothing was applied (state {state})", "applied: no", summary)
    r = store.cli("member", "show", "M-3001", check=False)
    expect(r.returncode == 1, "nothing was applied: M-3001 of a good line does not exist (CLI)",
           "member show exit 1", f"exit {r.returncode}: {r.stdout}")
    n = store.json("activity", "--type", "import")["entries"]
    expect(n == [], "no import entry was written (CLI activity --type import)", "[]", n)
    p.get("/members?q=M-3001")
    expect(not p.has("a[href='/members/M-3001']"), "/members does not find M-3001 either",
           "no row", p.describe())


def phone_retro(p, store, code, shots):
    """The retro-visit form on a phone: no sideways scrolling, the submit
    button on screen, and it works there (up to the approval, then
    cancelled)."""
    p.size(PHONE, True)
    try:
        p.get("/forms/retro-visit")
        steps = 0
        while True:
            form_step(p, "retro-visit at phone width")
            iw, sw = p.d.execute_script(
                "return [window.innerWidth, document.documentElement.scrollWidth]")
            title = p.text("#form-title")
            expect(iw == PHONE[0] and sw <= iw,
                   f"phone width, step {title!r}: laid out for 390 px, no horizontal scroll",
                   "innerWidth 390, scrollWidth <= 390", f"innerWidth {iw}, scrollWidth {sw}")
            btn = p.el("#form-submit")
            p.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", btn)
            r = p.d.execute_script(
                "const r = arguments[0].getBoundingClientRect();"
                "return [r.left, r.right, r.top, r.bottom, window.innerWidth, window.innerHeight];", btn)
            expect(btn.is_displayed() and r[0] >= 0 and r[1] <= r[4] and r[2] >= 0 and r[3] <= r[5],
                   f"phone width, step {title!r}: the submit button is visible on screen",
                   "inside the viewport", r)
            steps += 1
            if p.has("#f-customer"):
                p.type("#f-customer", BOB)
            elif p.has("#f-receipt") and not p.has("#f-pin"):
                p.type("#f-receipt", code)
            elif p.has("#f-pin"):
                pts = p.text("#f-points")
                expect(points(pts) == 12, "phone width: the approval step shows S-4's 12 points",
                       "12", pts)
                p.type("#f-reason", "phone was flat")
                screenshot(p, shots, "retro-visit-phone.png")
                p.submit(p.el("#form-cancel"))
                res = p.need("#form-result", "the cancelled form shows #form-result")
                expect("refused" in (res.get_attribute("class") or "").split(),
                       "phone width: Cancel dismisses the form (class refused)", "refused",
                       f"{res.get_attribute('class')!r} {res.text!r}")
                break
            else:
                fail("phone width: a known step of the retro-visit form", "customer, receipt or approval",
                     p.describe())
            if steps > 4:
                fail("phone width: the form reaches the approval", "at most 3 steps", p.describe())
            p.submit(p.el("#form-submit"))
        expect(store.balance(BOB) == 30, "the cancelled form credited nothing (CLI: M-1002 still 30)",
               "30", store.balance(BOB))
        if shots:
            dashboard(p)
            screenshot(p, shots, "dashboard-phone.png")
    finally:
        p.size(DESKTOP, False)


def sign_out(p):
    session = next((c for c in p.d.get_cookies() if c["name"] == "tp_session"), None)
    p.get("/")
    p.submit(p.el("#signout-submit"))
    expect(p.path() == "/signin", "signing out lands on /signin", "/signin", p.d.current_url)
    p.get("/members")
    expect(p.path() == "/signin", "after signing out a page redirects to /signin", "/signin",
           p.d.current_url)
    # The old cookie, put back, opens nothing: the session is gone on the
    # server, not only in the browser.
    if session:
        p.d.add_cookie({k: session[k] for k in ("name", "value", "path") if k in session})
        p.get("/members")
        expect(p.path() == "/signin", "the signed-out session's cookie, replayed, is refused",
               "/signin", p.d.current_url)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--screenshots", metavar="DIR",
                    help="also save the dashboard and the retro-visit form at desktop and phone widths")
    args = ap.parse_args()
    shots = os.path.abspath(args.screenshots) if args.screenshots else None
    if shots:
        os.makedirs(shots, exist_ok=True)
    for f in (WEB, CLI, TILL, PLUGIN):
        if not os.path.exists(f):
            print(f"e2e_web: {f} is missing; build first (make all BUILD={BUILD})", file=sys.stderr)
            return 1

    work = tempfile.mkdtemp(prefix="tillpoints-e2e-web-")
    server = driver = None
    status = 1
    try:
        store = Store(work)
        codes = set_up_store(store)
        server = Server(store)
        driver = browser(work)
        p = Page(driver, server.base)
        p.size(DESKTOP, False)

        sign_in_checks(p)
        retro0, mgr0, pts0, _, _ = dashboard(p)
        ok(f"the dashboard's charts are drawn (today: {retro0} retro credits, {pts0} points)")
        find_and_open_member(p, store)
        credit_missed_visit(p, store, codes["S-2"], shots)
        activity_check(p)
        retro1, mgr1, pts1, by_manager, pts = dashboard(p)
        expect(retro1 == retro0 + 1, "the dashboard's #today-retro went up by the credit",
               retro0 + 1, retro1)
        expect(mgr1 == mgr0 + 1,
               f"Chart.getChart('chart-retro'): one more credit approved by {MGR2}",
               f"{MGR2}: {mgr0 + 1}", by_manager)
        expect(pts1 == pts0 + 27,
               "Chart.getChart('chart-points'): today's Retro bar has the 27 points",
               pts0 + 27, f"{pts1}: {pts}")
        screenshot(p, shots, "dashboard-desktop.png")
        correct_credit(p, store)
        import_check(p, store)
        phone_retro(p, store, codes["S-4"], shots)
        sign_out(p)
        driver.quit()
        driver = None
        rc = server.stop()
        expect(rc == 0, "SIGTERM stops tillpoints-web cleanly (exit 0)", 0,
               f"exit {rc}: {server.stderr_tail()}")
        server = None
        v = store.cli("verify", check=False)
        expect(v.returncode == 0, "tillpoints verify: the database is consistent afterwards",
               "exit 0", v.stdout + v.stderr)
        status = 0
        print("e2e_web: all checks passed")
    except (Failure, WebDriverException, subprocess.TimeoutExpired) as e:
        # A Selenium error (an element a page should have had) is a failure
        # too: say where the browser was.
        if not isinstance(e, Failure):
            where = Page(driver, "").describe() if driver else "(no browser)"
            e = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}\n  page: {where}"
        print(f"FAIL - {e}", flush=True)
        if server:
            print("  tillpoints-web stderr (tail):\n    " +
                  server.stderr_tail().replace("\n", "\n    "), flush=True)
    finally:
        if driver:
            try:
                driver.quit()
            except WebDriverException:
                pass
        if server:
            server.stop()
        if os.environ.get("E2E_KEEP"):
            print(f"e2e_web: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
