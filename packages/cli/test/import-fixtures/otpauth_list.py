"""Fixture: a list of otpauth:// URIs made by pyotp 2.6 (provisioning_uri), with edge and bad lines."""

import hashlib
import sys

from format_fixture import emit, require, row, skip, write

(pyotp,) = require("pyotp")


def trailing_bits(secret):
    """The bits of the last base32 character that make no byte (non-zero: a lenient case)."""
    unused = (len(secret) * 5) % 8
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".index(secret[-1]) & ((1 << unused) - 1)


def main(outdir):
    lines, expected, sensitive = [], [], []

    def add(line, entry=None):
        lines.append(line)
        if entry is not None:
            expected.append(entry)

    def new_secret(length=32):
        secret = pyotp.random_base32(length=length)
        while length % 8 and not trailing_bits(secret):
            secret = pyotp.random_base32(length=length)
        sensitive.append(secret)
        return secret

    def ref():
        return "line %d" % (len(lines) + 1)

    def byte_secret(secret):
        return pyotp.TOTP(secret).byte_secret()

    add("# otpauth:// URIs made by pyotp %s" % getattr(pyotp, "__version__", "2.x"))
    add("")

    secret = new_secret()
    uri = pyotp.TOTP(secret).provisioning_uri(name="alice@example.com", issuer_name="ACME")
    add(uri, row(pyotp, ref(), "alice@example.com", byte_secret(secret), "uri", name="ACME"))

    secret = new_secret()
    uri = pyotp.TOTP(secret, digits=8, digest=hashlib.sha256, interval=60).provisioning_uri(
        name="bob", issuer_name="Example Corp")
    add("user-42 \t " + uri, row(pyotp, ref(), "user-42", byte_secret(secret), "uri", algorithm="SHA256",
                                 digits=8, period=60, name="Example Corp"))

    # Lenient: 34 base32 characters, so 2 trailing bits that pyotp (Python's b32decode) ignores.
    secret = new_secret(length=34)
    uri = pyotp.TOTP(secret, digest=hashlib.sha512).provisioning_uri(name="carol-phone")
    add("carol " + uri, row(pyotp, ref(), "carol", byte_secret(secret), "uri", algorithm="SHA512",
                            name="carol-phone"))

    # Lenient: an empty issuer before the colon of the label.
    secret = new_secret()
    uri = pyotp.TOTP(secret).provisioning_uri(name="dave").replace("otpauth://totp/", "otpauth://totp/:", 1)
    add(uri, row(pyotp, ref(), "dave", byte_secret(secret), "uri"))

    # Lenient: empty algorithm, digits and period parameters read as absent.
    secret = new_secret()
    uri = pyotp.TOTP(secret).provisioning_uri(name="erin") + "&algorithm=&digits=&period="
    add(uri, row(pyotp, ref(), "erin", byte_secret(secret), "uri"))

    # A legacy 10-byte secret is accepted.
    uri = pyotp.TOTP("JBSWY3DPEHPK3PXP").provisioning_uri(name="ivan", issuer_name="Legacy")
    add(uri, row(pyotp, ref(), "ivan", byte_secret("JBSWY3DPEHPK3PXP"), "uri", name="Legacy"))

    secret = new_secret()
    add(pyotp.HOTP(secret).provisioning_uri(name="frank", initial_count=3), skip(ref(), "hotp"))
    add("frank2 " + pyotp.HOTP(secret).provisioning_uri(name="frank", initial_count=3),
        skip(ref(), "hotp", "frank2"))

    add(pyotp.TOTP("JBSWY3DP").provisioning_uri(name="grace"), skip(ref(), "short"))

    secret = new_secret()
    add(pyotp.TOTP(secret, digest=hashlib.md5).provisioning_uri(name="heidi"), skip(ref(), "algorithm"))

    add("this is not a uri", skip(ref(), "garbage"))
    add("otpauth://totp/judy?secret=NOT*BASE32", skip(ref(), "secret"))

    emit(write(outdir, "otpauth-list.txt", lines), expected, sensitive)


main(sys.argv[1])
