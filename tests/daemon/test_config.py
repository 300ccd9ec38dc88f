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
    with_gateway = load_settings(
        home=tmp_path, payment_gateway_url="https://acquirer.example", payment_gateway_token_env="ACQ_TOKEN"
    )
    assert with_gateway.offered_payment_methods == ["prepaid", "cash", "gateway"]


def test_payment_methods_are_the_configured_ones_in_their_order(tmp_path: Path) -> None:
    settings = load_settings(
        home=write(
            tmp_path,
            'payment_methods = ["gateway", "prepaid"]\npayment_gateway_url = "https://acquirer.example"\n'
            'payment_gateway_token_env = "ACQ_TOKEN"\n',
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
        token = {"payment_gateway_token_env": "ACQ_TOKEN"} if key == "payment_gateway_url" else {}
        assert getattr(load_settings(home=tmp_path, **{key: ok}, **token), key) == ok
    with pytest.raises(ConfigError) as error:
        load_settings(home=tmp_path, **{key: "http://10.1.2.3:9300"})
    assert "use https://" in str(error.value)
    assert key in str(error.value)


def test_an_acquirer_beyond_this_machine_needs_this_terminals_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(home=tmp_path, payment_gateway_url="https://acquirer.example")
    assert "payment_gateway_token_env is needed" in str(error.value)
    named = load_settings(
        home=tmp_path, payment_gateway_url="https://acquirer.example", payment_gateway_token_env="ACQ_TOKEN"
    )
    assert named.payment_gateway_token_env == "ACQ_TOKEN"
    # On this machine (the demo's, a test's) a token is the acquirer's choice.
    assert (
        load_settings(home=tmp_path, payment_gateway_url="http://127.0.0.1:9").payment_gateway_token_env
        is None
    )
    with pytest.raises(ConfigError) as error:
        load_settings(home=tmp_path, payment_gateway_token_env="not a name")
    assert "payment_gateway_token_env" in str(error.value)


@pytest.mark.parametrize(("written", "level"), [("debug", "DEBUG"), ("Info", "INFO"), ("WARNING", "WARNING")])
def test_log_level_in_any_case(tmp_path: Path, written: str, level: str) -> None:
    assert load_settings(home=write(tmp_path, f'log_level = "{written}"\n')).log_level == level


def test_log_level_from_the_environment_in_any_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDSERVICE_LOG_LEVEL", "error")
    assert load_settings(home=tmp_path).log_level == "ERROR"


def test_an_unknown_log_level_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(home=write(tmp_path, 'log_level = "verbose"\n'))
    assert "log_level: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in str(error.value)


def problems(error: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    """The problem lines of a ConfigError (after its heading)."""
    return [line.strip() for line in str(error.value).splitlines()[1:]]


def test_every_problem_at_once(tmp_path: Path) -> None:
    """Checks across keys run even when another key is wrong: one start lists every problem."""
    text = (
        "port = 99999\n"
        'host = "10.1.2.3"\n'
        'payment_methods = ["gateway"]\n'
        'log_level = "loud"\n'
        'tls_private_key = "key.pem"\n'
    )
    with pytest.raises(ConfigError) as error:
        load_settings(home=write(tmp_path, text))
    found = problems(error)
    expected = [
        "port: Input should be less than or equal to 65535",
        "log_level: Input should be",
        "payment_methods lists gateway: payment_gateway_url is needed",
        "tls_certificate and tls_private_key go together",
    ]
    for line in expected:
        assert any(line in problem for problem in found), (line, found)
    assert len(found) == len(expected), found


def test_the_remote_host_check_beside_a_broken_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(home=write(tmp_path, 'host = "10.1.2.3"\nrate_limit = { per_second = 0 }\n'))
    found = problems(error)
    assert len(found) == 2, found
    assert any("rate_limit.per_second" in problem for problem in found)
    assert any("host '10.1.2.3' is not a loopback address" in problem for problem in found)


def test_a_check_across_keys_is_left_out_when_one_of_its_keys_is_wrong(tmp_path: Path) -> None:
    """payment_gateway_url is refused on its own; "payment_gateway_url is needed" would only mislead."""
    with pytest.raises(ConfigError) as error:
        load_settings(
            home=write(tmp_path, 'payment_methods = ["gateway"]\npayment_gateway_url = "http://10.9.9.9"\n')
        )
    found = problems(error)
    assert len(found) == 1, found
    assert "payment_gateway_url: Value error, '10.9.9.9' is not this machine" in found[0]


def test_a_cross_key_problem_alone_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(home=write(tmp_path, 'payment_methods_by_scope = { kiosk = ["cash"] }\n'))
    found = problems(error)
    assert len(found) == 1, found
    assert found[0].startswith("configuration: Value error, payment_methods_by_scope:")


def test_the_readme_example_configuration_is_valid(tmp_path: Path) -> None:
    """The Configuration section of the README, as a hospital would copy it."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = readme[readme.index("```toml\n") + len("```toml\n") :]
    settings = load_settings(home=write(tmp_path, example[: example.index("```")]))
    assert [printer.name for printer in settings.printers] == ["front", "counter"]
    assert settings.offered_payment_methods == ["prepaid", "gateway"]
    assert len(settings.readers) == 3


def test_idcard_readers_are_made_by_their_driver(tmp_path: Path) -> None:
    settings = load_settings(
        home=write(
            tmp_path,
            '[[idcard_readers]]\nname = "desk"\ndevice = "/dev/ttyUSB1"\n\n'
            '[[idcard_readers]]\nname = "window"\nkind = "serial"\ndevice = "/dev/ttyS0"\nbaudrate = 9600\n'
            "timeout = 5\nfingerprint = true\n",
        )
    )
    readers = settings.id_card_readers
    assert list(readers) == ["desk", "window"]  # the first is the default
    window = readers["window"]
    assert (window.baudrate, window.timeout, window.fingerprint) == (9600, 5.0, True)  # type: ignore[attr-defined]
    assert readers["desk"].baudrate == 115200  # type: ignore[attr-defined]


def test_bad_idcard_readers_are_named_together(tmp_path: Path) -> None:
    text = (
        '[[idcard_readers]]\nname = "desk"\nbaudrate = 1200\nparity = "E"\n\n'
        '[[idcard_readers]]\nname = "desk"\nkind = "vendor-x"\ndevice = "COM1"\n'
    )
    with pytest.raises(ConfigError) as error:
        load_settings(home=write(tmp_path, text))
    found = problems(error)
    assert len(found) == 2, found
    assert found[0].startswith("idcard_readers.0: Value error, serial ID-card reader: unknown key 'parity'")
    assert "device:" in found[0]
    assert "baudrate:" in found[0]
    assert found[1].startswith("idcard_readers.1.kind: Value error, no ID-card reader driver 'vendor-x'")


def test_idcard_reader_names_are_unique(tmp_path: Path) -> None:
    entry = '[[idcard_readers]]\nname = "desk"\ndevice = "/dev/ttyUSB1"\n'
    with pytest.raises(ConfigError) as error:
        load_settings(home=write(tmp_path, entry + "\n" + entry))
    assert problems(error) == ["idcard_readers: Value error, ID-card reader names must be unique: desk"]
