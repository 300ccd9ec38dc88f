"""The daemon's configuration of readers and payment methods: ``[[readers]]`` with roles and backend kinds,
``payment_methods`` — checked at start, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardservice.daemon import ConfigError, load_settings
from cardservice.readers import ReaderBinding, ReservedReader


def write(home: Path, text: str) -> Path:
    (home / "cardservice.toml").write_text(text, encoding="utf-8")
    return home


def test_readers_with_roles_and_kinds(tmp_path: Path) -> None:
    settings = load_settings(
        home=write(
            tmp_path,
            """
[[readers]]
card = "ACS ACR39U 00 00"
sam = "ACS ACR39U 00 01"

[[readers]]
card = "vcard 00 00"
keystore = "issuer.keystore"
kind = "in-process"

[[readers]]
reader = "Issuer Station"
role = "issuer"

[[readers]]
reader = "Yubico"
role = "ignored"
""",
        )
    )
    first, second, issuer, ignored = settings.readers
    assert isinstance(first, ReaderBinding)
    assert first.kind == "pcsc"  # the default backend
    assert isinstance(second, ReaderBinding)
    assert second.kind == "in-process"
    assert issuer == ReservedReader(reader="Issuer Station", role="issuer")
    assert ignored == ReservedReader(reader="Yubico", role="ignored")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('card = "00 00"', "exactly one of 'sam'"),
        ('reader = "x"\nrole = "owner"', "readers.0"),
        ('card = "00 00"\nsam = "00 01"\nkind = "Not A Kind!"', "readers.0"),
    ],
)
def test_a_bad_reader_entry_is_named(tmp_path: Path, entry: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(home=write(tmp_path, f"[[readers]]\n{entry}\n"))
    assert problem in str(error.value)


def test_payment_methods_default_to_what_is_configured(tmp_path: Path) -> None:
    assert load_settings(home=tmp_path).offered_payment_methods == ["prepaid", "cash"]
    with_gateway = load_settings(home=tmp_path, payment_gateway_url="https://acquirer.example")
    assert with_gateway.offered_payment_methods == ["prepaid", "cash", "gateway"]


def test_payment_methods_are_the_configured_ones_in_their_order(tmp_path: Path) -> None:
    settings = load_settings(
        home=write(
            tmp_path,
            'payment_methods = ["gateway", "prepaid"]\npayment_gateway_url = "https://acquirer.example"\n',
        )
    )
    assert settings.offered_payment_methods == ["gateway", "prepaid"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('payment_methods = ["gateway"]\n', "payment_gateway_url is needed"),
        ('payment_methods = ["bitcoin"]\n', "payment_methods.0"),
        ("payment_methods = []\n", "payment_methods"),
    ],
)
def test_bad_payment_methods_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(home=write(tmp_path, text))
    assert problem in str(error.value)


@pytest.mark.parametrize("key", ["his_url", "payment_gateway_url"])
def test_the_his_and_the_acquirer_are_reached_over_tls_beyond_this_machine(tmp_path: Path, key: str) -> None:
    for ok in (
        "https://his.hospital.example/cs",
        "http://127.0.0.1:9300",
        "http://localhost:9300",
        "http://[::1]:1",
    ):
        assert getattr(load_settings(home=tmp_path, **{key: ok}), key) == ok
    with pytest.raises(ConfigError) as error:
        load_settings(home=tmp_path, **{key: "http://10.1.2.3:9300"})
    assert "use https://" in str(error.value)
    assert key in str(error.value)
