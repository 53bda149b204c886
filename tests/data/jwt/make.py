#!/usr/bin/env python3
"""Writes the TEST-ONLY JWT material of tests/tests/envoy_jwt.rs and envoy/examples/jwt-authn-filter.yaml.

    python3 tests/data/jwt/make.py        # needs the `cryptography` package

The RSA-2048 key is made afresh on each run and only its public half is kept: the private key is not
committed (nothing else can be signed with it later, and no scanner flags a key in the repository). The key
is TEST-ONLY: the JWKS is published here, so never trust it anywhere.

- `jwks.json`: the public key as a JWKS (kid `routewise-test-1`); the same text is inline in
  envoy/examples/jwt-authn-filter.yaml (envoy_jwt.rs checks that they agree).
- `tokens.json`: RS256 tokens for issuer `https://issuer.routewise.example`, audience `routewise-example`,
  expiring 2100-01-01 (`exp` 4102444800): `valid` (claims of every JSON type, `null` included, and a
  `scope`), `bad_signature` (the same header and payload, the signature's first byte changed),
  `unscoped` (no `scope`), and `payload` (the valid token's claims, as JSON).

Run again only to replace the key (every output changes; commit them together).
"""

import base64
import json
import pathlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = pathlib.Path(__file__).resolve().parent
KID = "routewise-test-1"


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uint(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def sign(key, payload: dict) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": KID}
    signing_input = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}." \
                    f"{b64url(json.dumps(payload, separators=(',', ':')).encode())}"
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(sig)}"


def main() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_numbers()
    jwks = {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": KID, "n": uint(pub.n), "e": uint(pub.e)}]}
    (HERE / "jwks.json").write_text(json.dumps(jwks, separators=(",", ":")) + "\n")
    base = {"iss": "https://issuer.routewise.example", "aud": "routewise-example", "sub": "user-42",
            "iat": 1764806400, "exp": 4102444800}
    payload = dict(base, scope="pets:read pets:write", groups=["admin", "ops"], email_verified=True,
                   level=3, ratio=0.5, address={"city": "Paris", "zip": "75001"}, nickname=None)
    valid = sign(key, payload)
    head, body, sig = valid.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[0] ^= 0xFF
    tokens = {"valid": valid, "bad_signature": f"{head}.{body}.{b64url(bytes(raw))}",
              "unscoped": sign(key, base), "payload": payload}
    (HERE / "tokens.json").write_text(json.dumps(tokens, indent=2) + "\n")


if __name__ == "__main__":
    main()
