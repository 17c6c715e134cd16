# Run by python-peers.test.ts with /usr/bin/python3 (the Debian packages python3-pyotp and
# python3-passlib): what the Python tools read and write, printed as one JSON document. It takes
# one argument, a JSON object {"seed": int, "times": [...], "counters": [...], "configs": [...],
# "uris": [...]}, and prints {"missing": [...]} instead when a module cannot be imported.
import base64
import hashlib
import importlib.metadata
import json
import random
import sys
import warnings

warnings.simplefilter("ignore")  # passlib warns about short keys and unknown URI parameters

missing = []
try:
    import pyotp
except ImportError:
    missing.append("pyotp")
try:
    from passlib.totp import TOTP as PasslibTotp
except ImportError:
    missing.append("passlib")
if missing:
    print(json.dumps({"missing": missing}))
    sys.exit(0)

request = json.loads(sys.argv[1])
times = request["times"]
counters = request["counters"]
configs = request["configs"]  # [{"algorithm": "SHA256", "digits": 8, "period": 60}, ...]
DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}

# pyotp.random_base32 draws from the module-level `random` (a SystemRandom): seeded here so that a
# failing run can be repeated with the same OTP_TEST_SEED. The function itself is pyotp's own.
pyotp.random = random.Random(request["seed"])


def attempt(read):
    """The value of read(), or None when the tool refuses (raises)."""
    try:
        return read()
    except Exception:
        return None


def b32decode_padded(text):
    """What pyotp does to read a secret: pad to a multiple of 8, then base64.b32decode."""
    padded = text + "=" * (-len(text) % 8)
    return base64.b32decode(padded, casefold=True).hex()


def pyotp_totp_codes(text):
    return [
        pyotp.TOTP(text, digits=c["digits"], digest=DIGESTS[c["algorithm"]], interval=c["period"]).at(t)
        for c in configs
        for t in times
    ]


def passlib_totp_codes(text):
    return [
        PasslibTotp(text, format="base32", alg=c["algorithm"].lower(), digits=c["digits"], period=c["period"])
        .generate(t)
        .token
        for c in configs
        for t in times
    ]


def secret_case(text, source):
    return {
        "text": text,
        "source": source,
        "hex": attempt(lambda: b32decode_padded(text)),
        "pyotpHex": attempt(lambda: pyotp.TOTP(text).byte_secret().hex()),
        "passlibHex": attempt(lambda: PasslibTotp(text, format="base32").key.hex()),
        "pyotp": attempt(lambda: pyotp_totp_codes(text)),
        "passlib": attempt(lambda: passlib_totp_codes(text)),
        "hotp": attempt(lambda: [pyotp.HOTP(text).at(c) for c in counters]),
    }


secrets = [secret_case("S46SQCPPTCNPROMHWYBDCTBZXV", "pyotp's test suite")]
secrets.append(secret_case("s46sqcpptcnpromhwybdctbzxv", "pyotp's test suite, lowercase"))
for length, count in [(34, 200), (32, 20), (36, 20), (37, 20), (39, 20), (40, 10), (52, 10), (103, 10)]:
    for _ in range(count):
        secrets.append(secret_case(pyotp.random_base32(length=length), "random_base32(length=%d)" % length))
# Lengths of 1, 3 or 6 symbols mod 8 cannot be decoded: pyotp makes them, and then refuses them.
for length in (33, 35, 38):
    for _ in range(5):
        secrets.append(secret_case(pyotp.random_base32(length=length), "random_base32(length=%d)" % length))


# URIs written by pyotp and passlib, with what they were written from and the codes they give.
def written(uri, writer, kind, text, issuer, account, config, codes, counter=None):
    expected = {
        "type": kind,
        "hex": b32decode_padded(text),
        "issuer": issuer or None,
        "account": account,
        "algorithm": config["algorithm"],
        "digits": config["digits"],
    }
    if kind == "totp":
        expected["period"] = config["period"]
    else:
        expected["counter"] = counter
    return {"uri": uri, "writer": writer, "expected": expected, "codes": codes}


LABELS = [("ACME Co", "jane@example.com"), (None, "jane doe"), ("", "alice"), ("Bücher", "jürgen")]
writtenUris = []
for index, case in enumerate(secrets[:40]):
    text = case["text"]
    if case["hex"] is None:
        continue
    config = configs[index % len(configs)]
    issuer, account = LABELS[index % len(LABELS)]
    digest = DIGESTS[config["algorithm"]]
    totp = pyotp.TOTP(
        text, digits=config["digits"], digest=digest, interval=config["period"], issuer=issuer, name=account
    )
    codes = [totp.at(t) for t in times]
    writtenUris.append(written(totp.provisioning_uri(), "pyotp", "totp", text, issuer, account, config, codes))

    hotp = pyotp.HOTP(text, digits=config["digits"], digest=digest, issuer=issuer, name=account)
    start = counters[index % len(counters)]
    uri = hotp.provisioning_uri(initial_count=start)
    codes = [hotp.at(c) for c in counters]
    writtenUris.append(written(uri, "pyotp", "hotp", text, issuer, account, config, codes, start))

    ptotp = PasslibTotp(
        text, format="base32", alg=config["algorithm"].lower(), digits=config["digits"], period=config["period"]
    )
    codes = [ptotp.generate(t).token for t in times]
    uri = ptotp.to_uri(label=account, issuer=issuer)
    writtenUris.append(written(uri, "passlib", "totp", text, issuer, account, config, codes))


# URIs given by the test: how each tool reads them (None when it refuses).
READ_TIME = times[1]


def pyotp_reading(uri):
    otp = pyotp.parse_uri(uri)
    reading = {
        "hex": otp.byte_secret().hex(),
        "issuer": otp.issuer or None,
        "account": otp.name,
        "algorithm": otp.digest().name.upper(),
        "digits": otp.digits,
    }
    if isinstance(otp, pyotp.TOTP):
        reading.update(type="totp", period=otp.interval, code=otp.at(READ_TIME))
    else:
        # HOTP.at(n) is the code of counter initial_count + n: at(0) is that of the URI's counter.
        reading.update(type="hotp", counter=otp.initial_count, code=otp.at(0))
    return reading


def passlib_reading(uri):
    otp = PasslibTotp.from_uri(uri)
    return {
        "type": "totp",
        "hex": otp.key.hex(),
        "issuer": otp.issuer or None,
        "account": otp.label,
        "algorithm": otp.alg.upper(),
        "digits": otp.digits,
        "period": otp.period,
        "code": otp.generate(READ_TIME).token,
    }


readings = [
    {"uri": uri, "pyotp": attempt(lambda: pyotp_reading(uri)), "passlib": attempt(lambda: passlib_reading(uri))}
    for uri in request["uris"]
]

print(
    json.dumps(
        {
            "versions": {
                "python": sys.version.split()[0],
                "pyotp": importlib.metadata.version("pyotp"),
                "passlib": importlib.metadata.version("passlib"),
            },
            "secrets": secrets,
            "written": writtenUris,
            "readings": readings,
        }
    )
)
