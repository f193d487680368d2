# urls.py — no HTTP routes: the test only uses WebSockets (and a GET that
# Django answers 404 tells it daphne has loaded the application).
urlpatterns = []
