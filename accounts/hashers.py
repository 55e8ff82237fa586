"""The password hasher: Django's argon2 with one lane (parallelism 1) instead of Django's eight.

Eight lanes make argon2 run one verification on every core at once: on a 2-core server each sign-in
took both cores for about 120 ms (200 ms of CPU), and every API request arriving meanwhile waited for
it (bench/load_api.py at 200 requests/s: the list endpoints' p99 rose to 130-160 ms with one sign-in
every two seconds). With one lane the same work (the same memory, 100 MiB, and time cost, 2) runs on
one core and the API keeps the other. The cost to an attacker per guess is set by memory and time,
not by lanes: it stays above OWASP's argon2id minimum (19 MiB, t=2, p=1).

The algorithm name stays "argon2": stored hashes keep verifying with the parameters written in them,
and Django re-hashes a password with these at its owner's next sign-in (must_update).
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class PlatformArgon2PasswordHasher(Argon2PasswordHasher):
    parallelism = 1
