#!/usr/bin/env python3
"""Independent Ed25519 and GVariant tooling for tests/tests/sign.rs.

Ed25519 comes from pyca/cryptography (`pip install cryptography` or Debian's
python3-cryptography); GVariant bytes come from GLib itself through PyGObject
(python3-gi). Neither shares code with ramdisk. Subcommands:

  probe MODULE...            exit 0 when every module imports
  keygen                     print secret (base64 seed||public, 64 bytes) and public key
  sign SECRET_B64 FILE       print the base64 signature of FILE's bytes
  verify PUBLIC_B64 FILE SIG_B64   exit 0 when the signature verifies, else 1
  tweak-s SIG_B64            print the signature with S replaced by S + L (non-canonical)
  write-meta OUT [--existing FILE] SIG_B64...
                             write the a{sv} commitmeta OUT as ostree does: the existing
                             dictionary (if any) with ostree.sign.ed25519 (aay) extended
  read-meta FILE             check FILE is a normal-form a{sv}; print `sig BASE64` per
                             signature and `key NAME TYPE` per entry
"""

import base64
import sys

KEY = "ostree.sign.ed25519"
L = 2**252 + 27742317777372353535851937790883648493


def b64(b):
    return base64.b64encode(b).decode()


def keygen():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    sk = ed25519.Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    seed = sk.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = sk.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    print(b64(seed + pub))
    print(b64(pub))


def sign(secret_b64, path):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    secret = base64.b64decode(secret_b64, validate=True)
    sk = ed25519.Ed25519PrivateKey.from_private_bytes(secret[:32])
    with open(path, "rb") as f:
        print(b64(sk.sign(f.read())))


def verify(public_b64, path, sig_b64):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pk = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
    with open(path, "rb") as f:
        data = f.read()
    try:
        pk.verify(base64.b64decode(sig_b64, validate=True), data)
    except InvalidSignature:
        return 1
    return 0


def tweak_s(sig_b64):
    sig = base64.b64decode(sig_b64, validate=True)
    s = int.from_bytes(sig[32:], "little") + L
    print(b64(sig[:32] + s.to_bytes(32, "little")))


def write_meta(out, existing, sigs):
    from gi.repository import GLib

    if existing:
        with open(existing, "rb") as f:
            old = GLib.Variant.new_from_bytes(GLib.VariantType("a{sv}"), GLib.Bytes.new(f.read()), False)
        d = GLib.VariantDict.new(old)
    else:
        d = GLib.VariantDict.new(None)
    prev = d.lookup_value(KEY, GLib.VariantType("aay"))
    items = [bytes(prev.get_child_value(i).get_data_as_bytes().get_data()) for i in range(prev.n_children())] if prev else []
    items += [base64.b64decode(s, validate=True) for s in sigs]
    d.insert_value(KEY, GLib.Variant("aay", items))
    v = d.end()
    with open(out, "wb") as f:
        f.write(bytes(v.get_data_as_bytes().get_data()))


def read_meta(path):
    from gi.repository import GLib

    with open(path, "rb") as f:
        data = f.read()
    v = GLib.Variant.new_from_bytes(GLib.VariantType("a{sv}"), GLib.Bytes.new(data), False)
    if not v.is_normal_form():
        print("not normal form")
        return 1
    for i in range(v.n_children()):
        e = v.get_child_value(i)
        name = e.get_child_value(0).get_string()
        val = e.get_child_value(1).get_variant()
        print("key", name, val.get_type_string())
        if name == KEY:
            for j in range(val.n_children()):
                print("sig", b64(bytes(val.get_child_value(j).get_data_as_bytes().get_data())))
    return 0


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "probe":
        for m in args:
            __import__(m)
        return 0
    if cmd == "keygen":
        keygen()
        return 0
    if cmd == "sign":
        sign(*args)
        return 0
    if cmd == "verify":
        return verify(*args)
    if cmd == "tweak-s":
        tweak_s(*args)
        return 0
    if cmd == "write-meta":
        out, rest = args[0], args[1:]
        existing = None
        if rest[:1] == ["--existing"]:
            existing, rest = rest[1], rest[2:]
        write_meta(out, existing, rest)
        return 0
    if cmd == "read-meta":
        return read_meta(*args)
    print("unknown command", cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
