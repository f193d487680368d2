# Browser-test harness: a real headless Chromium driven by chromedriver
# (Debian's python3-selenium), for the suites that run Switchboard's pages:
# test_browser.py (the seed's pages under /classic/chat/) and
# test_chat_page.py (the chat page at /chat/).
#
# Why it is shaped this way: each browser gets a fresh --user-data-dir under
# the test's temp dir; chromedriver runs in its own process group, and
# cleanup quits the driver and then kills that group, so no Chromium
# outlives a test. Every wait is a WebDriverWait with a timeout, and every
# HTTP call to chromedriver is bounded by RemoteConnection.set_timeout.
#
# Needs Debian 12's chromium, chromium-driver and python3-selenium (4.8):
#   apt-get install -y chromium chromium-driver python3-selenium
# scripts/test installs them. Without them every browser test is skipped
# with a message saying so, unless SB_REQUIRE_BROWSER=1 (set by
# scripts/test), which turns the skip into a failure so CI cannot pass
# without a browser.
import os
import signal
import sys
from harness import ProcessTestCase

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

try:
    from selenium import webdriver
    from selenium.common.exceptions import (JavascriptException, NoAlertPresentException,
                                            WebDriverException)
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.remote_connection import RemoteConnection
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    _SELENIUM_ERROR = None
except ImportError as e:  # pragma: no cover - depends on the machine
    _SELENIUM_ERROR = e
    # Names the suites import; their classes are skipped (MISSING) before any is used.
    webdriver = JavascriptException = NoAlertPresentException = WebDriverException = None
    Options = Service = By = Keys = RemoteConnection = EC = WebDriverWait = None

MISSING = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
if _SELENIUM_ERROR is not None:
    MISSING.append(f"python3 selenium ({_SELENIUM_ERROR})")
SKIP_REASON = ("browser tests need `apt-get install -y chromium chromium-driver "
               f"python3-selenium`; missing: {', '.join(MISSING)}")

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Containers often have a tiny /dev/shm; Debian's launcher means to add
    # this itself but its check breaks when findmnt prints two lines.
    "--disable-dev-shm-usage", "--window-size=1024,768",
]

HTTP_TIMEOUT = 30    # seconds any single chromedriver command may take
PAGE_TIMEOUT = 15    # page load
WAIT = 10            # WebDriverWait default
POLL = 0.05

if MISSING and os.environ.get("SB_REQUIRE_BROWSER") == "1":
    raise RuntimeError(SKIP_REASON)


class BrowserTestCase(ProcessTestCase):
    """A ProcessTestCase that can open headless browsers (self.browser()).
    Subclasses decorate themselves with @unittest.skipIf(MISSING, SKIP_REASON)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        RemoteConnection.set_timeout(HTTP_TIMEOUT)
        cls.addClassCleanup(RemoteConnection.reset_timeout)

    # ---------------------------------------------------------------- helpers

    def browser(self, extra_args=()):
        """A fresh headless Chromium (its own profile); quit in cleanup."""
        if not hasattr(self, "_chromedriver_logs"):
            self._chromedriver_logs = []
        n = len(self._chromedriver_logs)
        profile = self.workdir / f"chromium-profile{n}"
        profile.mkdir()
        log = self.workdir / f"chromedriver{n}.log"
        self._chromedriver_logs.append(log)

        opts = Options()
        opts.binary_location = CHROMIUM
        for a in CHROMIUM_ARGS:
            opts.add_argument(a)
        opts.add_argument(f"--user-data-dir={profile}")
        for a in extra_args:
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # Leave an unexpected alert open, so a test can see it instead of
        # chromedriver dismissing it behind our back.
        opts.unhandled_prompt_behavior = "ignore"
        service = Service(executable_path=CHROMEDRIVER, log_path=str(log),
                          popen_kw={"start_new_session": True})
        try:
            driver = webdriver.Chrome(service=service, options=opts)
        except BaseException:
            self._kill_group(service)
            raise
        self.addCleanup(self._kill_group, service)
        self.addCleanup(driver.quit)
        driver.set_page_load_timeout(PAGE_TIMEOUT)
        driver.set_script_timeout(WAIT)
        driver.implicitly_wait(0)
        return driver

    @staticmethod
    def _kill_group(service):
        """Whatever is left of chromedriver's own process group (it and the
        Chromium it started) after quit(); normally nothing."""
        proc = getattr(service, "process", None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except Exception:
            pass

    def _dump_logs(self, tail_chars: int = 20000):
        super()._dump_logs(tail_chars)
        for log in getattr(self, "_chromedriver_logs", []):
            try:
                text = log.read_text(errors="replace")
            except OSError:
                continue
            text = text[-6000:]
            print(f"-------- {log.name} (tail) --------\n{text}", file=sys.stderr)

    def wait(self, driver, cond, what: str, timeout: float = WAIT):
        return WebDriverWait(driver, timeout, poll_frequency=POLL,
                             ignored_exceptions=(JavascriptException,)).until(cond, what)

    def assert_no_alert(self, driver):
        try:
            text = driver.switch_to.alert.text
        except NoAlertPresentException:
            return
        self.fail(f"the page opened an alert: {text!r}")

    def assert_console_clean(self, driver, gw):
        """No SEVERE entry in the browser console, then a control showing one would be seen."""
        try:
            entries = driver.get_log("browser")
        except (WebDriverException, AttributeError) as e:
            self.skipTest(f"chromedriver offers no browser log (goog:loggingPrefs): {e}")
        # Chromium fetches /favicon.ico on its own; the seed has no favicon
        # and its Django app answers 404 there too, so that one line is not
        # the page's fault. Every other error counts.
        favicon = gw.http_url("/favicon.ico") + " - "
        errors = [e for e in entries if e.get("level") == "SEVERE"
                  and not (e.get("source") == "network"
                           and e.get("message", "").startswith(favicon))]
        self.assertEqual(errors, [], f"console errors (all entries: {entries!r})")
        # Control: an error logged now IS collected, so the check above can fail.
        driver.execute_script("console.error('sb-control');")
        self.wait(driver, lambda d: any("sb-control" in e.get("message", "") and e.get("level") == "SEVERE"
                                        for e in d.get_log("browser")),
                  "the control console.error in the browser log")
