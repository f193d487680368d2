# chatsite: settings package of the Django Channels tutorial chat used by
# tests/integration/test_django_daphne.py (the real Django stack, on daphne).
