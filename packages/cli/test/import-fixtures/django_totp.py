"""Fixture: django-totp enrollments as JSON Lines, encrypted as django-totp does it.

django-totp (PyPI) is a Django app and not a Debian package, so its storage is reproduced with
the same calls it makes: `pyotp.random_base32()` for the secret, `secrets.token_urlsafe(12)` for
backup codes, and `cryptography.fernet.Fernet(TOTP_ENCRYPTION_KEY).encrypt(value.encode())`
(django_totp/encryption.py) for both. Each line is one Totp row with its BackupCode rows.
"""

import json
import secrets
import sys

from format_fixture import emit, require, row, skip, write

pyotp, fernet_module = require("pyotp", "cryptography.fernet")
Fernet = fernet_module.Fernet

KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()


def encrypt(value, key=KEY):
    """django_totp.encryption.encrypt."""
    return Fernet(key.encode()).encrypt(value.encode()).decode()


def main(outdir):
    lines, expected, sensitive = [], [], [KEY, OTHER_KEY]

    def new_secret(length=32):
        secret = pyotp.random_base32(length=length)
        sensitive.append(secret)
        return secret

    def backup_codes(count, used=0, key=KEY):
        codes = [secrets.token_urlsafe(12) for _ in range(count)]
        sensitive.extend(codes)
        rows = [{"code": encrypt(code, key), "is_used": index < used} for index, code in enumerate(codes)]
        return codes[used:], rows

    def add(record, entry):
        lines.append(json.dumps(record))
        expected.append(entry)

    def line_ref():
        return "line %d" % (len(lines) + 1)

    secret = new_secret()
    unused, rows = backup_codes(10, used=2)
    add({"id": 1, "user": "alice", "secret_key": encrypt(secret), "backup_codes": rows},
        row(pyotp, "django_totp_totp id=1", "alice", pyotp.TOTP(secret).byte_secret(), "django-totp",
            recoveryCodes=unused))

    # Bare tokens for unused codes, an integer user id, no Totp id.
    secret = new_secret()
    unused, rows = backup_codes(3)
    add({"user": 42, "secret_key": encrypt(secret), "backup_codes": [r["code"] for r in rows]},
        row(pyotp, line_ref(), "42", pyotp.TOTP(secret).byte_secret(), "django-totp", recoveryCodes=unused))

    # Every backup code used: still enrolled, no recovery codes. Lenient 34-character secret.
    secret = new_secret(length=34)
    _, rows = backup_codes(2, used=2)
    add({"id": 3, "user": "carol", "secret_key": encrypt(secret), "backup_codes": rows},
        row(pyotp, "django_totp_totp id=3", "carol", pyotp.TOTP(secret).byte_secret(), "django-totp"))

    add({"id": 4, "user": "dave", "secret_key": encrypt(new_secret()), "backup_codes": []},
        skip("django_totp_totp id=4", "unconfirmed", "dave"))
    _, rows = backup_codes(2)
    add({"id": 5, "user": "erin", "secret_key": encrypt(new_secret(), OTHER_KEY), "backup_codes": rows},
        skip("django_totp_totp id=5", "wrong key", "erin"))
    _, rows = backup_codes(2, key=OTHER_KEY)
    add({"id": 6, "user": "frank", "secret_key": encrypt(new_secret()), "backup_codes": rows},
        skip("django_totp_totp id=6", "backup wrong key", "frank"))
    _, rows = backup_codes(1)
    add({"id": 7, "user": "grace", "secret_key": "not-a-token", "backup_codes": rows},
        skip("django_totp_totp id=7", "not a token", "grace"))
    lines.append("garbage, not json")
    expected.append(skip("line %d" % len(lines), "garbage"))

    emit(write(outdir, "django-totp.jsonl", lines), expected, sensitive, {"key": KEY})


main(sys.argv[1])
