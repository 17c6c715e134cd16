"""Shared helpers of the import fixture generators (run with /usr/bin/python3, Debian packages).

Each generator is run as `generator.py OUTDIR`: it writes the export file into OUTDIR with the
real tool and prints one JSON object on stdout: {"file", "options", "expected", "sensitive"}.
"expected" lists, in input order, {"row": {...}} with the secret as hex and the codes pyotp
computes for it now and at a past step, or {"skip": {"ref", "userId"?, "why"}}; "sensitive" lists
strings (secrets, keys) no skip reason may contain. When a module is missing it prints
{"missing": "<module> (Debian package <package>)"} and exits with status 3.
"""

import hashlib
import importlib
import json
import sys
import time

PACKAGES = {
    "pyotp": "python3-pyotp",
    "passlib": "python3-passlib",
    "cryptography": "python3-cryptography",
    "google.protobuf": "python3-protobuf",
}

DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}

#: A fixed past moment (2001-09-09T01:46:40Z) whose code every row also records.
PAST_TIME = 1_000_000_000


def require(*modules):
    """Imports the modules, or reports the first missing one with its Debian package and exits."""
    loaded = []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError:
            print(json.dumps({"missing": "Python module %s not installed for /usr/bin/python3 "
                                         "(Debian package %s)" % (name, PACKAGES.get(name, name))}))
            sys.exit(3)
    return loaded


def codes(pyotp, secret_bytes, algorithm="SHA1", digits=6, period=30):
    """The codes pyotp computes for the secret now (totp.now(), with the time it used) and at PAST_TIME."""
    import base64
    totp = pyotp.TOTP(base64.b32encode(secret_bytes).decode(), digits=digits,
                      digest=DIGESTS[algorithm], interval=period)
    while True:
        before = time.time()
        now = totp.now()
        after = time.time()
        if int(before) // period == int(after) // period:
            break
    return [{"time": int(before), "token": now}, {"time": PAST_TIME, "token": totp.at(PAST_TIME)}]


def source(prefix, secret_bytes):
    return "%s:%s" % (prefix, hashlib.sha256(secret_bytes).hexdigest())


def row(pyotp, ref, user_id, secret_bytes, prefix, algorithm="SHA1", digits=6, period=30, **extra):
    """An expected ImportRow (secret as hex) with its pyotp codes."""
    expected = {"ref": ref, "userId": user_id, "source": source(prefix, secret_bytes),
                "secretHex": secret_bytes.hex(), "algorithm": algorithm, "digits": digits,
                "period": period, "codes": codes(pyotp, secret_bytes, algorithm, digits, period)}
    expected.update(extra)
    return {"row": expected}


def skip(ref, why, user_id=None):
    expected = {"ref": ref, "why": why}
    if user_id is not None:
        expected["userId"] = user_id
    return {"skip": expected}


def write(outdir, name, lines):
    path = "%s/%s" % (outdir, name)
    with open(path, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    return path


def emit(path, expected, sensitive, options=None):
    print(json.dumps({"file": path, "options": options or {}, "expected": expected,
                      "sensitive": sensitive}))
