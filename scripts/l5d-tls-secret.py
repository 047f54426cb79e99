#!/usr/bin/env python3
"""Make the Secret of daemonset/l5d-tls.yml: a CA and one certificate for every l5d.

    scripts/l5d-tls-secret.py [--name l5d-certs] [--namespace default] [--days 3650]
        [--common-name l5d] [--files DIR] > l5d-certs.yml

prints a ``kind: Secret`` with ``ca.pem`` (the CA's certificate), ``tls.crt`` (a
certificate for ``--common-name``, usable as server and as client certificate, signed
by the CA) and ``tls.key`` (its key, PKCS#8 PEM, as Linkerd wants). The CA's key is not
kept: to rotate, make a new Secret and ``kubectl apply`` it; every l5d picks up the new
files within about a minute (the kubelet's sync) plus one second, without a restart.

The Secret in daemonset/l5d-tls.yml was made with this script and is for trying the
manifests out only: its key is public. Make your own for a real cluster.
"""

from __future__ import annotations

import argparse
import base64
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make(common_name: str, days: int) -> dict[str, bytes]:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    end = now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("l5d CA")).issuer_name(_name("l5d CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return {
        "ca.pem": ca.public_bytes(pem),
        "tls.crt": cert.public_bytes(pem),
        "tls.key": key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()),
    }


def secret_yaml(files: dict[str, bytes], name: str, namespace: str) -> str:
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {name}",
             f"  namespace: {namespace}", "  labels:", "    app: l5d", "type: Opaque", "data:"]
    for key, data in files.items():
        lines.append(f"  {key}: {base64.b64encode(data).decode()}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="l5d-certs")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--days", type=int, default=3650)
    parser.add_argument("--common-name", default="l5d")
    parser.add_argument("--files", metavar="DIR",
                        help="write ca.pem, tls.crt and tls.key into DIR instead")
    args = parser.parse_args()
    files = make(args.common_name, args.days)
    if args.files:
        for name, data in files.items():
            with open(f"{args.files}/{name}", "wb") as fh:
                fh.write(data)
        return
    print(secret_yaml(files, args.name, args.namespace), end="")


if __name__ == "__main__":
    main()
