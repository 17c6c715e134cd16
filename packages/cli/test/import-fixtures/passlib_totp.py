"""Fixture: passlib 1.7 TOTP state as JSON Lines (TOTP.to_json, AppWallet-encrypted keys, wrappers)."""

import json
import sys

from format_fixture import PAST_TIME, emit, require, row, skip, write

pyotp, passlib, passlib_totp = require("pyotp", "passlib", "passlib.totp")
TOTP = passlib_totp.TOTP

WALLET = {"2024-01": "app secret one", "old": "older secret"}


def main(outdir):
    lines, expected, sensitive = [], [], list(WALLET.values())

    def ref():
        return "line %d" % (len(lines) + 1)

    def expect_row(totp, user_id, **extra):
        sensitive.append(totp.base32_key)
        algorithm = totp.alg.upper()
        entry = row(pyotp, ref(), user_id, totp.key, "passlib", algorithm=algorithm, digits=totp.digits,
                    period=totp.period, **extra)
        # passlib computes the same past code as pyotp.
        assert totp.generate(PAST_TIME).token == entry["row"]["codes"][1]["token"]
        return entry

    def add(line, entry):
        expected.append(entry)
        lines.append(line)

    lines.append("# passlib %s TOTP.to_json() lines" % passlib.__version__)

    totp = TOTP.new(label="alice", issuer="ACME")
    add(totp.to_json(), expect_row(totp, "alice", name="ACME"))

    totp = TOTP.new(label="bob", alg="sha256", digits=8, period=60)
    add(json.dumps(totp.to_json()), expect_row(totp, "bob"))

    totp = TOTP.new(label="carol@example.com", alg="sha512")
    counter = totp.match(totp.generate(PAST_TIME).token, time=PAST_TIME).counter
    add(json.dumps({"user": "u-3", "totp": totp.to_dict(), "last_counter": counter}),
        expect_row(totp, "u-3", lastCounter=counter))

    totp = TOTP.new(label="ignored")
    add(json.dumps({"user": 4, "totp": totp.to_json()}), expect_row(totp, "4"))

    for tag, label in (("2024-01", "dave"), ("old", "erin")):
        wallet_totp = TOTP.using(secrets=WALLET, default_tag=tag)
        totp = wallet_totp.new(label=label)
        state = json.loads(totp.to_json())
        assert state["enckey"]["t"] == tag
        add(totp.to_json(), expect_row(totp, label))

    totp = TOTP.using(secrets={"gone": "a secret nobody kept"}).new(label="frank")
    sensitive += ["a secret nobody kept", totp.base32_key]
    add(totp.to_json(), skip(ref(), "tag", "frank"))

    totp = TOTP.new(label="mallory", alg="md5")
    sensitive.append(totp.base32_key)
    add(totp.to_json(), skip(ref(), "algorithm", "mallory"))

    add("{not json", skip(ref(), "garbage"))
    add(json.dumps({"user": "nokey", "totp": {"type": "totp", "v": 1}}), skip(ref(), "key", "nokey"))

    totp = TOTP.new()
    sensitive.append(totp.base32_key)
    add(totp.to_json(), skip(ref(), "user"))

    emit(write(outdir, "passlib.jsonl", lines), expected, sensitive,
         {"secrets": WALLET, "bytesTags": ["old"]})


main(sys.argv[1])
