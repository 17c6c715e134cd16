"""Fixture: Google Authenticator transfer URIs (otpauth-migration://offline?data=...).

The MigrationPayload message is built at run time from google-authenticator's published .proto
(no protoc) with descriptor_pb2 + message_factory of python3-protobuf, and serialized by it.
"""

import base64
import sys
import urllib.parse

from format_fixture import emit, require, row, skip, write

pyotp, descriptor_pb2, descriptor_pool, message_factory = require(
    "pyotp", "google.protobuf.descriptor_pb2", "google.protobuf.descriptor_pool",
    "google.protobuf.message_factory")

# google-authenticator migration.proto (OtpMigration), field for field.
ENUMS = {
    "Algorithm": ["ALGORITHM_UNSPECIFIED", "ALGORITHM_SHA1", "ALGORITHM_SHA256", "ALGORITHM_SHA512",
                  "ALGORITHM_MD5"],
    "DigitCount": ["DIGIT_COUNT_UNSPECIFIED", "DIGIT_COUNT_SIX", "DIGIT_COUNT_EIGHT"],
    "OtpType": ["OTP_TYPE_UNSPECIFIED", "OTP_TYPE_HOTP", "OTP_TYPE_TOTP"],
}


def build_payload_class():
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="migration.proto", package="googleauth", syntax="proto3")
    payload = file.message_type.add(name="MigrationPayload")
    for name, values in ENUMS.items():
        enum = payload.enum_type.add(name=name)
        for number, value in enumerate(values):
            enum.value.add(name=value, number=number)
    params = payload.nested_type.add(name="OtpParameters")
    for number, (name, kind, type_name) in enumerate([
            ("secret", F.TYPE_BYTES, None), ("name", F.TYPE_STRING, None), ("issuer", F.TYPE_STRING, None),
            ("algorithm", F.TYPE_ENUM, "Algorithm"), ("digits", F.TYPE_ENUM, "DigitCount"),
            ("type", F.TYPE_ENUM, "OtpType"), ("counter", F.TYPE_INT64, None)], start=1):
        field = params.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
        if type_name:
            field.type_name = ".googleauth.MigrationPayload." + type_name
    payload.field.add(name="otp_parameters", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                      type_name=".googleauth.MigrationPayload.OtpParameters")
    for number, name in enumerate(["version", "batch_size", "batch_index", "batch_id"], start=2):
        payload.field.add(name=name, number=number, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("googleauth.MigrationPayload")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


MigrationPayload = build_payload_class()


def transfer_uri(accounts, batch_size=1, batch_index=0, batch_id=0):
    payload = MigrationPayload(version=1, batch_size=batch_size, batch_index=batch_index, batch_id=batch_id)
    for account in accounts:
        payload.otp_parameters.add(**account)
    data = base64.b64encode(payload.SerializeToString()).decode()
    return "otpauth-migration://offline?data=" + urllib.parse.quote(data, safe="")


def main(outdir):
    lines, expected, sensitive = [], [], []

    def secret(size=20):
        value = pyotp.TOTP(pyotp.random_base32(length=-(-size * 8 // 5))).byte_secret()
        assert len(value) == size
        sensitive.append(base64.b32encode(value).decode())
        return value

    def line_ref(entry):
        return "line %d entry %d" % (len(lines) + 1, entry)

    lines.append("# Google Authenticator transfer: batch 1 of 2 parts, batch -7 of 3 parts (part 2 lost)")
    # Batch 1, part 1: defaults (unspecified enums), SHA256/8 digits, issuer only in the name.
    a, b, c = secret(), secret(32), secret()
    expected += [
        row(pyotp, line_ref(1), "alice@example.com", a, "uri", name="ACME"),
        row(pyotp, line_ref(2), "bob", b, "uri", algorithm="SHA256", digits=8, name="Example Corp"),
        row(pyotp, line_ref(3), "carol", c, "uri", name="NameIssuer"),
    ]
    lines.append(transfer_uri([
        dict(secret=a, name="ACME:alice@example.com", issuer="ACME"),
        dict(secret=b, name="bob", issuer="Example Corp", algorithm=2, digits=2, type=2),
        dict(secret=c, name="NameIssuer: carol", algorithm=1, digits=1, type=2),
    ], batch_size=2, batch_index=0, batch_id=1))
    # Batch 1, part 2: SHA512, then the bad accounts: HOTP, MD5, a 5-byte secret, no name.
    d, e, f = secret(64), secret(), secret()
    expected += [
        row(pyotp, line_ref(1), "dave", d, "uri", algorithm="SHA512"),
        skip(line_ref(2), "hotp", "erin"),
        skip(line_ref(3), "algorithm", "frank"),
        skip(line_ref(4), "short", "grace"),
        skip(line_ref(5), "user"),
    ]
    lines.append(transfer_uri([
        dict(secret=d, name="dave", algorithm=3, type=2),
        dict(secret=e, name="erin", type=1, counter=5),
        dict(secret=f, name="frank", algorithm=4, type=2),
        dict(secret=b"short", name="grace", type=2),
        dict(secret=f, name="", type=2),
    ], batch_size=2, batch_index=1, batch_id=1))
    # Batch -7: parts 1 and 3 of 3 only; part 1 repeated.
    g, h = secret(), secret()
    expected.append(row(pyotp, line_ref(1), "heidi", g, "uri"))
    lines.append(transfer_uri([dict(secret=g, name="heidi", type=2)], batch_size=3, batch_index=0, batch_id=-7))
    expected.append(skip("line %d" % (len(lines) + 1), "duplicate"))
    lines.append(lines[-1])
    expected.append(row(pyotp, line_ref(1), "ivan", h, "uri"))
    lines.append(transfer_uri([dict(secret=h, name="ivan", type=2)], batch_size=3, batch_index=2, batch_id=-7))
    expected.append(skip("line %d" % (len(lines) + 1), "garbage"))
    lines.append("otpauth-migration://offline?data=bm90IGEgcHJvdG9idWY%3D")
    expected.append(skip("line %d" % (len(lines) + 1), "garbage"))
    lines.append("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP")
    expected.append(skip("batch -7 part 2 of 3", "missing"))

    emit(write(outdir, "google-migration.txt", lines), expected, sensitive)


main(sys.argv[1])
