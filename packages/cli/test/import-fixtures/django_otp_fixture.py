"""Builds a django-otp database with the real tools, for the `twofold import` django-otp tests.

Run with Debian's interpreter (/usr/bin/python3: python3-django 3.2, python3-django-otp 1.1.3,
python3-psycopg2, python3-mysqldb). Django is configured in-process, the real migrations create
the tables, and users and devices are made through the ORM, as a Django site makes them.

    /usr/bin/python3 django_otp_fixture.py DATABASE_URL < spec.json > report.json
    /usr/bin/python3 django_otp_fixture.py --check DIALECT    # prints the missing modules, if any

DATABASE_URL: sqlite:/abs/path.db, postgres://user@host:port/name or mysql://user@host:port/name
(the database must exist). The spec (stdin, JSON):

    {"codesAt": 1800000000,          # unix seconds: each device's code at that time goes in the report
     "users": [{"username": "alice", "email": "alice@example.com",
                "totp": [{"name": "phone", "confirmed": true, "key": "<hex>" (default: django-otp's
                          random 20 bytes), "digits": 6, "step": 30, "t0": 0, "drift": 0,
                          "verify": true}],   # verify the current code with device.verify_token
                "static": [{"confirmed": true, "tokens": 5, "consume": 1}]}],
     "bulkUsers": 3000}               # then as many users bulk-000000... with one TOTP device each

The report (stdout, JSON) mirrors the spec with what was made: ids, keys, last_t, drift, tokens.
"""

import json
import sys
import time
from urllib.parse import unquote, urlparse

DEBIAN_PACKAGES = {
    "django": "python3-django",
    "django_otp": "python3-django-otp",
    "psycopg2": "python3-psycopg2",
    "MySQLdb": "python3-mysqldb",
}
DRIVER_MODULES = {"sqlite": [], "postgres": ["psycopg2"], "mysql": ["MySQLdb"]}


def missing_modules(dialect):
    """The modules this dialect needs that do not import, each with its Debian package."""
    missing = []
    for module in ["django", "django_otp"] + DRIVER_MODULES[dialect]:
        try:
            __import__(module)
        except ImportError:
            missing.append("{} ({})".format(module, DEBIAN_PACKAGES[module]))
    return missing


def database_settings(url):
    """Django's DATABASES['default'] for a sqlite:, postgres:// or mysql:// URL."""
    if url.startswith("sqlite:"):
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": url[len("sqlite:"):]}
    parsed = urlparse(url)
    common = {
        "NAME": parsed.path.lstrip("/"),
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname,
        "PORT": str(parsed.port or ""),
    }
    if parsed.scheme in ("postgres", "postgresql"):
        return dict(common, ENGINE="django.db.backends.postgresql")
    if parsed.scheme in ("mysql", "mariadb"):
        return dict(common, ENGINE="django.db.backends.mysql", OPTIONS={"charset": "utf8mb4"})
    raise SystemExit("unknown database URL scheme: {}".format(parsed.scheme))


def configure(url):
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="twofold-import-fixture",
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_otp",
            "django_otp.plugins.otp_totp",
            "django_otp.plugins.otp_static",
        ],
        DATABASES={"default": database_settings(url)},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()


def is_hex(text):
    try:
        bytes.fromhex(text)
        return True
    except ValueError:
        return False


def make_totp(user, spec, codes_at):
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    fields = {"user": user, "name": spec.get("name", ""), "confirmed": spec.get("confirmed", True)}
    for field in ("key", "digits", "step", "t0", "drift"):
        if field in spec:
            fields[field] = spec[field]
    device = TOTPDevice.objects.create(**fields)
    verified_code = None
    if spec.get("verify"):
        # The code the user's app shows now (its clock is `drift` steps off), accepted by django-otp.
        current = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        verified_code = str(current.token()).zfill(device.digits)
        if not device.verify_token(verified_code):
            raise SystemExit("django-otp refused its own code for device {}".format(device.id))
        device.refresh_from_db()
    return device_report(device, verified_code, codes_at)


def device_report(device, verified_code, codes_at):
    """What the report says of a TOTPDevice, with its code at `codes_at` (unix seconds) if given."""
    from django_otp.oath import TOTP

    report = {
        "id": device.id,
        "name": device.name,
        "confirmed": device.confirmed,
        "key": device.key,
        "digits": device.digits,
        "step": device.step,
        "t0": device.t0,
        "drift": device.drift,
        "tolerance": device.tolerance,
        "last_t": device.last_t,
        "verifiedCode": verified_code,
    }
    if codes_at is not None and is_hex(device.key) and codes_at >= device.t0:
        # django_otp.oath.totp at a fixed time: the TOTP class totp() wraps, with its clock set.
        at = TOTP(device.bin_key, device.step, device.t0, device.digits)
        at.time = codes_at
        report["code"] = str(at.token()).zfill(device.digits)
    return report


def make_static(user, spec):
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    device = StaticDevice.objects.create(user=user, name=spec.get("name", "backup"), confirmed=spec.get("confirmed", True))
    tokens = [device.token_set.create(token=StaticToken.random_token()).token for _ in range(spec.get("tokens", 0))]
    consumed = []
    for token in tokens[: spec.get("consume", 0)]:
        if not device.verify_token(token):
            raise SystemExit("django-otp refused its own static token on device {}".format(device.id))
        consumed.append(token)
    remaining = list(device.token_set.order_by("id").values_list("token", flat=True))
    return {"id": device.id, "confirmed": device.confirmed, "tokens": remaining, "consumed": consumed}


def build(spec):
    from django.contrib.auth.models import User

    codes_at = spec.get("codesAt")
    users = []
    for user_spec in spec.get("users", []):
        user = User.objects.create_user(user_spec["username"], email=user_spec.get("email", ""))
        users.append({
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "totp": [make_totp(user, device, codes_at) for device in user_spec.get("totp", [])],
            "static": [make_static(user, device) for device in user_spec.get("static", [])],
        })
    users.extend(make_bulk(spec.get("bulkUsers", 0), codes_at))
    return {"codesAt": codes_at, "madeAt": int(time.time()), "users": users}


def make_bulk(count, codes_at):
    """`count` more users (bulk-000000...), each with one confirmed TOTP device of a random key."""
    from django.contrib.auth.models import User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if count == 0:
        return []
    names = ["bulk-{:06d}".format(index) for index in range(count)]
    User.objects.bulk_create([User(username=name, email=name + "@example.com", password="!") for name in names], batch_size=1000)
    made = list(User.objects.filter(username__startswith="bulk-").order_by("id"))
    TOTPDevice.objects.bulk_create([TOTPDevice(user=user, name="bulk device") for user in made], batch_size=1000)
    devices = {device.user_id: device for device in TOTPDevice.objects.filter(name="bulk device")}
    return [{
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "totp": [device_report(devices[user.id], None, codes_at)],
        "static": [],
    } for user in made]


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        print(json.dumps(missing_modules(argv[2])))
        return
    if len(argv) != 2:
        raise SystemExit(__doc__)
    configure(argv[1])
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(json.dumps(build(json.load(sys.stdin))))


if __name__ == "__main__":
    main(sys.argv)
