# urls.py — the seed peer's HTTP routes: none (the benchmark only uses WebSockets;
# every HTTP path is a 404 from Django, which is all daphne's "http" side needs).
urlpatterns = []
