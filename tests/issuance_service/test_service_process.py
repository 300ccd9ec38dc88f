"""The issuance service as the process it is meant to be (``python -m cardservice.issuance_service``): its
configuration file and environment, a kiosk key made by its ``token`` command, TLS (a self-signed
certificate the kiosk trusts, ``wss://``) — and a kiosk issuing a card through it. Its configuration refuses
to bind beyond loopback without TLS, and to guess transport keys."""

from __future__ import annotations

import datetime as _dt
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cardservice.issuance import IssuanceFailed
from cardservice.issuance_service import ServiceConfigError, load_service_settings, transport_keys
from cardservice.keys import KeyStore, ScryptParams
from simulators.health import write_demo_keystore
from tests.issuance_service.conftest import KioskFactory, Service, people


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - _dt.timedelta(minutes=1))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "service.crt", directory / "service.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def service_home(tmp_path: Path) -> tuple[Path, dict[str, str], int]:
    home = tmp_path / "service"
    home.mkdir()
    write_demo_keystore(home / "keys.json", "secret words", kdf_params=ScryptParams(n=2**10))
    cert, key = _certificate(home)
    port = _free_port()
    (home / "issuance-service.toml").write_text(
        f'port = {port}\nkeystore = "keys.json"\ntls_certificate = "{cert}"\ntls_private_key = "{key}"\n'
        "card_sim_transport_key = true\ncard_fee_fen = 1000\nanswer_timeout = 10\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "CARDSERVICE_ISSUANCE_HOME": str(home),
        "CARDSERVICE_KEYS_PASSPHRASE": "secret words",
    }
    env.pop("CARDSERVICE_TRANSPORT_KEY", None)
    return home, env, port


@pytest.fixture
def process(service_home: tuple[Path, dict[str, str], int]) -> Iterator[tuple[str, str]]:
    _, env, port = service_home
    command = [sys.executable, "-m", "cardservice.issuance_service"]
    made = subprocess.run([*command, "token", "create", "kiosk-9"], env=env, capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    token = made.stdout.strip()
    child = subprocess.Popen([*command, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert child.poll() is None, child.communicate()[0]
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.1)
        yield f"wss://localhost:{port}", token
    finally:
        child.terminate()
        output = child.communicate(timeout=20)[0]
        assert child.returncode == 0, output
        assert "110105198503071230" not in output  # the person's number never in the log


def test_a_kiosk_issues_a_card_through_the_service_process_over_tls(
    process: tuple[str, str], service_home: tuple[Path, dict[str, str], int], make_kiosk: KioskFactory
) -> None:
    url, token = process
    home = service_home[0]
    context = ssl.create_default_context(cafile=str(home / "service.crt"))
    kiosk = make_kiosk(Service(None, url, None, None, None, None, None), token=token, ssl_context=context)  # type: ignore[arg-type]
    result = kiosk.issue(people()[0])
    assert result.status == "active"
    assert [path.name for path in kiosk.machine.taken] == ["card-0001.json"]
    # a kiosk that does not trust the certificate never reaches the service
    untrusting = make_kiosk(Service(None, url, None, None, None, None, None), "kiosk-x", token=token)  # type: ignore[arg-type]
    with pytest.raises(IssuanceFailed) as refused:
        untrusting.relay.settle()
    assert refused.value.code == "issuance_unavailable"


def test_the_configuration_refuses_plain_binding_beyond_loopback_and_guessed_keys(tmp_path: Path) -> None:
    with pytest.raises(ServiceConfigError, match="needs TLS"):
        load_service_settings(home=tmp_path, host="0.0.0.0", keystore="k.json")
    with pytest.raises(ServiceConfigError, match="go together"):
        load_service_settings(home=tmp_path, keystore="k.json", tls_certificate="c.pem")
    store = KeyStore.create(tmp_path / "empty.json", "x", kdf_params=ScryptParams(n=2**10))
    settings = load_service_settings(
        home=tmp_path, keystore="empty.json", transport_key_env="H9_NO_SUCH_VARIABLE"
    )
    with pytest.raises(ServiceConfigError, match="no transport keys"):
        transport_keys(settings, store)
    os.environ["H9_TRANSPORT"] = "00" * 16 + ":" + "11" * 16
    try:
        keys = transport_keys(settings.model_copy(update={"transport_key_env": "H9_TRANSPORT"}), store)
    finally:
        del os.environ["H9_TRANSPORT"]
    assert (keys.auth, keys.sm) == (bytes(16), b"\x11" * 16)
