# The room page as a Django shop serves it (docs/django.md, Identity),
# against real processes: redis-server, layerd, a gateway with --jwt-secret,
# the test Django app (tests/django_app, database mode) on daphne, and real
# headless Chromium (harness_browser.py).
#
# Django renders /sb/chat/<room>/ for the logged-in user with
# `{% switchboard_ws_url room_name %}`: the gateway's URL (another port,
# so another origin, which the gateway lets in with --allowed-origin) plus
# `?token=` for that user and that room. Two browsers log in (a session
# cookie from Django's login, and Django's login form), chat, and each sees
# the other's name as the gateway stamped it. An anonymous visitor is sent
# to the login page and gets no token; the page's token opens its room and
# no other (403); a token past its ttl is refused (403); another site's
# page is refused (403); the template tag refuses a room that is not a
# room with a ValueError that says so. BehindOneNginx: deploy/nginx's site
# with Django's paths added, SWITCHBOARD_WS_URL empty, the page's socket on
# its own origin, the gateway's default Origin check.
import base64
import json
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import websockets

from harness import Gateway, arun, handshake_status, http_request, scrape_metrics
from harness_browser import MISSING, SKIP_REASON, BrowserTestCase, By, Keys
from harness_django import DJANGO_APP, PY, django_env, login_cookie, manage
from test_django_daphne import Daphne
from test_nginx import TEMPLATE, Nginx, render_site

SECRET = "django-page-test-secret-0123456789abcdef"
PASSWORDS = {"alice": "wonderland-7", "bob": "builder-of-things-9"}


def page_ws_url(body: bytes) -> str:
    """The WebSocket URL a rendered room page gives its script (the ws-url json_script)."""
    text = body.decode()
    start = text.index('<script id="ws-url" type="application/json">') + len(
        '<script id="ws-url" type="application/json">')
    return json.loads(text[start:text.index("</script>", start)])


def token_claims(url: str) -> dict:
    """The claims of the token in a page's WebSocket URL (read, not verified)."""
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def origin_status(url: str, origin: str) -> int:
    """The status of a handshake that carries `Origin: origin`, as a browser's does."""
    try:
        ws = await websockets.connect(url, origin=origin, open_timeout=10, ping_interval=None, close_timeout=1)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return 101


class DjangoPageCase(BrowserTestCase):
    """redis, layerd, a --jwt-secret gateway that allows the Django origin,
    and daphne serving the room page that points at it."""

    def start_stack(self, ttl=300, same_origin=False):
        """same_origin: one nginx in front sends /sb/ and /accounts/ to
        Django and /ws/ to the gateway, and SWITCHBOARD_WS_URL is empty."""
        redis = self.start_redis()
        ld = self.start_layerd(redis.url, id="layerd0")
        secret_file = self.workdir / "jwt.secret"
        secret_file.write_text(SECRET + "\n")
        self.env = django_env(redis.port, db_dir=self.workdir)
        self.env["SB_JWT_SECRET"] = SECRET
        self.cookies = {"alice": login_cookie(self.env, "alice", PASSWORDS["alice"])}  # migrates too
        self.cookies["bob"] = manage(self.env, "sb_login", "bob", PASSWORDS["bob"]).strip()
        self.django = self.own(Daphne(redis.port, self.workdir))
        self.origin = f"http://127.0.0.1:{self.django.port}"
        nginx = None
        if same_origin:
            nginx = self.own(Nginx(self.workdir, []))
            self.origin = f"http://127.0.0.1:{nginx.port}"
        args = ["--jwt-secret-file", str(secret_file), "--jwt-leeway-s", "0"]
        self.gw = self.own(Gateway([ld.endpoint], id="gwp", workdir=self.workdir,
                                   extra_args=args + ([] if same_origin else ["--allowed-origin", self.origin])))
        self.env["SB_GATEWAY_WS_URL"] = "" if same_origin else f"ws://127.0.0.1:{self.gw.port}"
        self.env["SB_TOKEN_TTL"] = str(ttl)
        self.django.env.update({k: v for k, v in self.env.items() if k.startswith("SB_")})
        self.gw.start()
        self.django.start()
        if nginx:
            # deploy/nginx's site for the gateway, plus Django's paths in front of its `location /`.
            site = render_site(TEMPLATE.read_text(), f"127.0.0.1:{nginx.port}", [f"127.0.0.1:{self.gw.port}"])
            django_paths = (f"    location ~ ^/(sb|accounts)/ {{\n"
                            f"        proxy_pass http://127.0.0.1:{self.django.port};\n"
                            f"        proxy_set_header Host $http_host;\n    }}\n\n    location / {{")
            self.assertEqual(site.count("    location / {"), 1)
            nginx.site_path.write_text(site.replace("    location / {", django_paths))
            nginx.start()

    def get(self, path, user=None):
        headers = {"Cookie": self.cookies[user]} if user else {}
        return http_request(self.django.port, "GET", path, headers=headers, timeout=10)

    def ws_url_for(self, user, room):
        status, _, body = self.get(f"/sb/chat/{room}/", user)
        self.assertEqual(status, 200, body[-2000:])
        return page_ws_url(body)

    # ---------------------------------------------------- browser helpers

    def browser_with_cookie(self, user):
        d = self.browser()
        d.get(self.origin + "/accounts/login/")  # the cookie's domain must be open first
        name, value = self.cookies[user].split("=", 1)
        d.add_cookie({"name": name, "value": value, "path": "/"})
        return d

    def browser_through_login_form(self, user, next_path):
        d = self.browser()
        d.get(self.origin + next_path)
        self.assertTrue(d.current_url.startswith(self.origin + "/accounts/login/"), d.current_url)
        d.find_element(By.ID, "id_username").send_keys(user)
        d.find_element(By.ID, "id_password").send_keys(PASSWORDS[user], Keys.ENTER)
        self.wait(d, lambda d: d.current_url == self.origin + next_path, f"{user} logged in and sent on")
        return d

    def wait_socket_open(self, d):
        self.wait(d, lambda d: d.execute_script(
            "return typeof chatSocket === 'undefined' ? null : chatSocket.readyState;") == 1,
            f"the page's socket to the gateway to open on {d.current_url}")

    def chat_lines(self, d):
        return [l for l in d.find_element(By.ID, "chat-log").get_property("value").split("\n") if l]

    def say(self, d, text):
        box = d.find_element(By.ID, "chat-message-input")
        box.send_keys(text, Keys.ENTER)
        self.wait(d, lambda d: box.get_property("value") == "", "the page to send and clear the input")


@unittest.skipIf(MISSING, SKIP_REASON)
class DjangoRoomPage(DjangoPageCase):

    def setUp(self):
        self.start_stack()

    # ------------------------------------------------------------------ tests

    def test_two_logged_in_users_chat_on_the_django_page_and_see_each_others_names(self):
        a = self.browser_with_cookie("alice")
        a.get(self.origin + "/sb/chat/lobby/")
        b = self.browser_through_login_form("bob", "/sb/chat/lobby/")
        for d in (a, b):
            self.assertEqual(d.title, "Chat Room")
            url = d.execute_script("return wsUrl;")
            self.assertTrue(url.startswith(f"ws://127.0.0.1:{self.gw.port}/ws/chat/lobby/?token="), url)
            self.wait_socket_open(d)
        self.assertEqual(token_claims(a.execute_script("return wsUrl;"))["rooms"], ["lobby"])
        self.assertEqual(token_claims(b.execute_script("return wsUrl;"))["name"], "bob")

        self.say(a, "hello from alice")
        for d, who in ((a, "alice"), (b, "bob")):
            self.wait(d, lambda d: self.chat_lines(d) == ["alice: hello from alice"], f"{who}'s page shows alice's line")
        # The name is the gateway's, from the token: what the client claims is ignored.
        a.execute_script("chatSocket.send(JSON.stringify({message: 'spoofed', user: {id: '0', name: 'root'}}));")
        self.wait(b, lambda d: self.chat_lines(d)[1:] == ["alice: spoofed"], "bob's page shows the spoof as alice's")
        self.say(b, "hi alice")
        for d, who in ((a, "alice"), (b, "bob")):
            self.wait(d, lambda d: self.chat_lines(d)[1:] == ["alice: spoofed", "bob: hi alice"],
                      f"{who}'s page shows both lines with the right names")
        m = scrape_metrics(self.gw.port)
        self.assertEqual(sum(v for k, v in m.items() if k.startswith("switchboard_gateway_auth_refusals_total")), 0)
        for d in (a, b):
            self.assert_no_alert(d)

    def test_an_anonymous_visitor_is_sent_to_the_login_page_and_gets_no_token(self):
        status, headers, body = self.get("/sb/chat/lobby/")
        self.assertEqual(status, 302)
        self.assertEqual(headers["location"], "/accounts/login/?next=/sb/chat/lobby/")
        self.assertNotIn(b"token", body)
        d = self.browser()
        d.get(self.origin + "/sb/chat/lobby/")
        self.assertTrue(d.current_url.startswith(self.origin + "/accounts/login/"), d.current_url)
        self.assertEqual(d.title, "Log in")
        self.assertNotIn("token=", d.page_source)
        self.assertNotIn("ws-url", d.page_source)
        # Control: the same request with alice's session gets the page and its token.
        status, _, body = self.get("/sb/chat/lobby/", "alice")
        self.assertEqual(status, 200)
        self.assertIn(b"?token=", body)

    def test_the_pages_token_opens_its_room_and_no_other(self):
        url = self.ws_url_for("alice", "lobby")
        self.assertEqual(arun(handshake_status(url), 20), 101)
        other = url.replace("/ws/chat/lobby/", "/ws/chat/kitchen/")
        self.assertNotEqual(other, url)
        self.assertEqual(arun(handshake_status(other), 20), 403)
        m = scrape_metrics(self.gw.port)
        self.assertEqual(m['switchboard_gateway_auth_refusals_total{reason="room"}'], 1)
        # Without the token the gateway refuses the room as well.
        self.assertEqual(arun(handshake_status(url.split("?")[0]), 20), 403)

    def test_only_the_django_origin_may_open_the_gateway_socket(self):
        url = self.ws_url_for("alice", "lobby")
        self.assertEqual(arun(origin_status(url, self.origin), 20), 101)
        self.assertEqual(arun(origin_status(url, "http://evil.example"), 20), 403)
        self.assertEqual(arun(origin_status(url, f"http://127.0.0.1:{self.django.port + 1}"), 20), 403)

    def test_a_room_the_gateway_would_not_take_is_a_404_not_a_page(self):
        for room in ("a-b", "team_*", "x" * 101, urllib.parse.quote("</script>", safe="")):
            status, _, body = self.get(f"/sb/chat/{room}/", "alice")
            self.assertEqual(status, 404, room)
            self.assertNotIn(b"token", body)
        # A Korean room is a room: percent-encoded in the URL, exact in the token.
        url = self.ws_url_for("alice", urllib.parse.quote("로비"))
        self.assertIn("/ws/chat/%EB%A1%9C%EB%B9%84/?token=", url)
        self.assertEqual(token_claims(url)["rooms"], ["로비"])
        self.assertEqual(arun(handshake_status(url), 20), 101)


@unittest.skipIf(MISSING, SKIP_REASON)
class BehindOneNginx(DjangoPageCase):
    """Django and the gateway behind one nginx: the page's origin is the
    gateway's too, so no --allowed-origin, and the page's URL is a path."""

    def setUp(self):
        self.start_stack(same_origin=True)

    def test_the_page_opens_its_socket_on_its_own_origin_and_chats(self):
        d = self.browser_with_cookie("alice")
        d.get(self.origin + "/sb/chat/lobby/")
        self.assertEqual(d.title, "Chat Room")
        self.assertTrue(d.execute_script("return wsUrl;").startswith("/ws/chat/lobby/?token="))
        self.wait_socket_open(d)
        self.assertEqual(d.execute_script("return chatSocket.url;").split("?")[0],
                         self.origin.replace("http://", "ws://") + "/ws/chat/lobby/")
        self.say(d, "through nginx")
        self.wait(d, lambda d: self.chat_lines(d) == ["alice: through nginx"], "the line, stamped with alice's name")


class ShortLivedTokens(DjangoPageCase):
    """No browser needed: the page's URL is fetched as the browser would get it."""

    def test_a_page_kept_past_its_tokens_ttl_is_refused_and_a_reload_gets_in(self):
        self.start_stack(ttl=3)
        url = self.ws_url_for("alice", "lobby")
        claims = token_claims(url)
        self.assertEqual(claims["exp"] - claims["iat"], 3)
        self.assertEqual(arun(handshake_status(url), 20), 101, "in time: let in")
        time.sleep(max(0.0, claims["exp"] + 1.2 - time.time()))
        self.assertEqual(arun(handshake_status(url), 20), 403, "past exp (leeway 0): refused")
        m = scrape_metrics(self.gw.port)
        self.assertEqual(m['switchboard_gateway_auth_refusals_total{reason="expired"}'], 1)
        # Reloading the page mints a fresh token, which is let in.
        self.assertEqual(arun(handshake_status(self.ws_url_for("alice", "lobby")), 20), 101, "a reload gets in")


class TemplateTag(unittest.TestCase):
    """{% switchboard_ws_url %} and {% switchboard_token %} on bad input,
    rendered by Django itself (manage.py shell in the test app)."""

    SCRIPT = r"""
import json
from django.contrib.auth import get_user_model
from django.template import Context, Template, engines
from django.test import RequestFactory

user = get_user_model().objects.get(username="alice")
request = RequestFactory().get("/")
request.user = user
out = {}
for tag in ("switchboard_ws_url", "switchboard_token"):
    t = engines["django"].from_string("{% load switchboard %}{% " + tag + " room %}")
    for room in ["lobby", "a-b", "", "x" * 101, "team_*", "</script>", 42, None]:
        try:
            out[f"{tag} {room!r}"] = "ok " + t.render({"room": room}, request)
        except Exception as e:
            out[f"{tag} {room!r}"] = f"{type(e).__name__}: {e}"
    try:
        t.render({"room": "lobby"})
        out[f"{tag} no request"] = "ok"
    except Exception as e:
        out[f"{tag} no request"] = f"{type(e).__name__}: {e}"
try:
    Template("{% load switchboard %}{% switchboard_ws_url %}")
    out["no room"] = "ok"
except Exception as e:
    out["no room"] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"""

    def render(self, **settings):
        """The SCRIPT's answers, with the test app's SB_* settings given."""
        with tempfile.TemporaryDirectory() as db:
            env = django_env(6379, db_dir=db)  # no Redis is reached: only templates render
            env.update(SB_JWT_SECRET=SECRET, **settings)
            login_cookie(env, "alice", PASSWORDS["alice"])
            r = subprocess.run([PY, "manage.py", "shell", "-c", self.SCRIPT], cwd=str(DJANGO_APP), env=env,
                               capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        return json.loads(r.stdout.strip().splitlines()[-1])

    def test_a_room_that_is_not_a_room_is_a_clear_error(self):
        out = self.render(SB_GATEWAY_WS_URL="wss://chat.example.com")
        self.assertRegex(out["switchboard_ws_url 'lobby'"], r"^ok wss://chat\.example\.com/ws/chat/lobby/\?token=[\w-]+\.[\w-]+\.[\w-]+$")
        self.assertRegex(out["switchboard_token 'lobby'"], r"^ok [\w-]+\.[\w-]+\.[\w-]+$")
        for tag in ("switchboard_ws_url", "switchboard_token"):
            for room in ("'a-b'", "''", repr("x" * 101), "'team_*'", "'</script>'"):
                self.assertEqual(out[f"{tag} {room}"],
                                 f"ValueError: switchboard: {room} is not a valid room name (1-100 letters, digits or _)")
            self.assertEqual(out[f"{tag} 42"], "ValueError: switchboard: a room name must be a string, not int")
            self.assertEqual(out[f"{tag} None"], "ValueError: switchboard: a room name must be a string, not NoneType")
            self.assertEqual(out[f"{tag} no request"],
                             "ValueError: switchboard: the template needs the request (render it with render(request, ...))")
        self.assertIn("TemplateSyntaxError", out["no room"])
        self.assertIn("'switchboard_ws_url' did not receive value(s) for the argument(s): 'room_name'", out["no room"])

    def test_a_gateway_url_or_ttl_that_cannot_work_is_a_clear_error(self):
        out = self.render(SB_GATEWAY_WS_URL="")
        self.assertRegex(out["switchboard_ws_url 'lobby'"], r"^ok /ws/chat/lobby/\?token=", "empty: same origin")
        for url in ("http://chat.example.com", "wss://chat.example.com/path", "wss://", "ws://a b"):
            out = self.render(SB_GATEWAY_WS_URL=url)
            self.assertEqual(out["switchboard_ws_url 'lobby'"],
                             "ImproperlyConfigured: SWITCHBOARD_WS_URL must be ws://host[:port] or "
                             "wss://host[:port] (empty: the page's own origin)", url)
        for ttl in ("0", "-5", "86401"):
            out = self.render(SB_TOKEN_TTL=ttl)
            self.assertEqual(out["switchboard_token 'lobby'"], "ImproperlyConfigured: SWITCHBOARD_TOKEN_TTL must be "
                             "a positive number of seconds, at most a day", ttl)
        self.assertRegex(self.render(SB_TOKEN_TTL="86400")["switchboard_token 'lobby'"], r"^ok ")


if __name__ == "__main__":
    unittest.main()
