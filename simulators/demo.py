"""What ``cardservice serve --demo`` adds to the daemon (``make run``): the embedded default.

- A virtual Resident Health Card and a virtual PSAM, made in ``HOME/sim`` from the shipped DEMO issuer
  key set, served to pcscd's vpcd readers by a ``card-sim serve`` child (reader
  ``cardservice-vpcd 00 00``, SAM ``cardservice-vpcd 00 01``); where pcscd cannot be reached the same
  cards run in-process, and the daemon says so.
- A receipt printer: ``python -m simulators.escpos`` as a child on a free port, writing each ticket as
  PNG + text into ``HOME/printer-out`` (``kill -USR1 PID`` takes its paper away and puts it back).
- A card acquirer: ``python -m simulators.acquirer`` as a child with its own SQLite in HOME.
- The demo patient (the synthetic 李明 of the demo card): bills and lab reports in the embedded HIS,
  ¥500 on the prepaid account (once per database).
- Card issuance at the kiosk (自助发卡), where pcscd runs with the project's serial reader: an issuance
  service child (``python -m cardservice.issuance_service``, home ``HOME/issuance-service``: the DEMO key
  store, its own SQLite registry, card-sim's blank-card transport key) on a free loopback port, a fresh
  kiosk key (scope issuer) each start, and a K720 dispenser simulator child (20 blank cards in
  ``HOME/dispenser-cards``) whose read position is the ``cardservice-twin`` reader (vpcd port 40002).
- Two fresh API keys each start, the last ones revoked: ``demo`` (scope ``his``) and ``demo-kiosk``
  (scope ``kiosk``: what a kiosk sees, ID and phone numbers masked). Both are printed, and written with
  the daemon's URL (and the demo printer's PID) to ``HOME/demo-api-keys.json`` (mode 0600, removed at stop),
  for ``scripts/tour`` and the README's commands.

Each part fills in only what the configuration leaves out (readers, printers, payment gateway). The
children die with the daemon, however it dies. The daemon finds this class through the
``cardservice.demo`` entry point: the library never imports the simulators.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from cardservice.access import ApiKeys, Scope
from cardservice.daemon import BankcardConfig, IdCardReaderBinding, PinPadBinding, PrinterBinding, Settings
from cardservice.daemon._issuance import IssuanceConfig
from cardservice.errors import CardError, ServiceUnavailableError
from cardservice.his import CHINA_TZ, Patient, seed
from cardservice.payments import Payments
from cardservice.readers import InProcessBackend, ReaderBackend, ReaderBinding
from cardservice.store import Database, open_database
from drivers.readers import list_readers
from simulators.cardos import create_image, load_card
from simulators.health import DEMO_HOLDER_PATH, DEMO_SAM_PIN, demo_sam_fingerprint, write_demo_keystore
from simulators.pboc import DEMO_PIN, demo_bank_key

__all__ = [
    "DEMO_BINDING",
    "DEMO_CARD_READER",
    "DEMO_KEYS_FILE",
    "DEMO_PREPAID_TOP_UP_FEN",
    "DEMO_PRINTER",
    "DEMO_PRINTER_DIR",
    "DEMO_SAM_READER",
    "Demo",
    "demo_patient",
]

log = logging.getLogger("cardservice.demo")

DEMO_CARD_READER = "cardservice-vpcd 00 00"
DEMO_SAM_READER = "cardservice-vpcd 00 01"
DEMO_BINDING = ReaderBinding(card=DEMO_CARD_READER, sam=DEMO_SAM_READER)
DEMO_VPCD = "localhost:40000"
DEMO_SAM_VPCD = "localhost:40001"
DEMO_PRINTER = "demo"
DEMO_PRINTER_DIR = "printer-out"
DEMO_PREPAID_TOP_UP_FEN = 50_000  # the demo patient starts with ¥500 on the prepaid account
DEMO_KEYS_FILE = "demo-api-keys.json"  # in HOME: {"url", "kiosk", "his", "printer_pid"} of the running demo
DEMO_KEY_NAME, DEMO_KIOSK_KEY_NAME = "demo", "demo-kiosk"
_IN_PROCESS = "in-process"
_DAEMON_ACTOR = "cardservice"
_ACQUIRER_TOKEN_ENV = "CARDSERVICE_DEMO_ACQUIRER_TOKEN"  # noqa: S105 - the name of the variable holding it
_QR_SECRET_ENV = "CARDSERVICE_DEMO_QR_SECRET"  # noqa: S105 - a variable's name
_TAK_ENV = "CARDSERVICE_DEMO_BANKCARD_TAK"  # DEMO ONLY: the demo bank's published terminal MAC key
_ISSUANCE_TOKEN_ENV = "CARDSERVICE_DEMO_ISSUANCE_TOKEN"  # noqa: S105 - a variable's name
# DEMO ONLY: the issuance service's key store holds the published DEMO key set, so its passphrase guards
# nothing; fixed, so the store made at the first start opens at every later one.
_ISSUANCE_PASSPHRASE = "demo"  # noqa: S105
_ISSUANCE_HOME = "issuance-service"
_DISPENSER_CARDS = 20
_TWIN_READER = "cardservice-twin"  # scripts/pcscd-ctl's serial reader; its card port is vpcd 40002
_TWIN_VPCD = "127.0.0.1:40002"


def demo_patient() -> Patient:
    """The holder of the demo card (synthetic): its card number and name, as the daemon reads them."""
    holder = json.loads(DEMO_HOLDER_PATH.read_text(encoding="utf-8"))
    return Patient(holder["DDF1/EF05"]["card_number"], holder["DDF1/EF06"]["name"])


def _die_with_parent() -> None:
    """In a child (card-sim, acquirer, demo printer): SIGTERM when the daemon dies, however it dies."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _pcscd_reachable() -> bool:
    try:
        list_readers()
    except ServiceUnavailableError:
        return False
    return True


def _write_private(path: Path, text: str) -> None:
    """*text* into *path*, readable by its owner only, replaced at once (never seen half written)."""
    part = path.with_name(f".{path.name}.part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()  # a leftover could carry another mode
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(part, path)


def _listening(port: int, timeout: float) -> bool:
    """Whether something accepts connections on loopback *port* within *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        time.sleep(0.1)
    return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Demo:
    """The :class:`cardservice.daemon.Demo` of the simulators: made with the data directory and the
    daemon's ``announce``."""

    def __init__(self, home: Path, announce: Callable[[str], None] = print) -> None:
        self._home = home
        self._announce = announce
        self._children: list[subprocess.Popen[bytes]] = []
        self._backends: dict[str, ReaderBackend] = {}
        self._notes: list[str] = []
        self._embedded_his = True
        self._url = ""
        self._kiosk_key: str | None = None
        self._keys_file = home / DEMO_KEYS_FILE
        self._printer_pid: int | None = None
        self._idcard: dict[str, str] = {}  # the demo ID-card reader's control socket and 李明's ID card
        self._bank: dict[str, str] = {}  # the demo bank's URL (its controls) and the PIN pad's control socket
        self._issuance: dict[str, str] = {}  # the dispenser's control socket and the issuance service's URL
        self._pcscd: bool | None = None
        sim = home / "sim"
        sim.mkdir(parents=True, exist_ok=True)
        self._card_image, self._sam_image = sim / "card.json", sim / "sam.json"
        if not self._card_image.exists():
            create_image(self._card_image, "health")
        if not self._sam_image.exists():
            create_image(self._sam_image, "sam")

    # -- cardservice.daemon.Demo ------------------------------------------------------------------------

    def configure(self, settings: Settings) -> Settings:
        update: dict[str, object] = {}
        binding = self._serve_cards()
        if not settings.readers:
            update["readers"] = [binding]
        if not settings.printers:
            update["printers"] = [self._start_printer()]
        if not settings.idcard_readers:
            update["idcard_readers"] = [self._start_idcard_reader()]
        if settings.issuance is None:
            issuance = self._start_issuance(settings)
            if issuance is not None:
                update["issuance"] = issuance
        if not settings.trusted_signers:  # the demo PSAM signs the demo's encounter records
            update["trusted_signers"] = [demo_sam_fingerprint()]
        if settings.payment_gateway_url is None:
            url, iso_port = self._start_acquirer(settings)
            update["payment_gateway_url"] = url
            update["payment_gateway_token_env"] = _ACQUIRER_TOKEN_ENV
            if settings.bankcard is None:  # the demo card's bank application pays at the demo bank
                os.environ.setdefault(_TAK_ENV, demo_bank_key("TAK").hex().upper())
                update["bankcard"] = BankcardConfig(
                    acquirer=f"127.0.0.1:{iso_port}", terminal_id="00000001", merchant_id="898110000000001",
                    mac_key_env=_TAK_ENV,
                )  # fmt: skip
                if not settings.pinpads:
                    update["pinpads"] = [self._start_pinpad()]
            if settings.payment_qrcode_url is None:
                update["payment_qrcode_url"] = url
                update["payment_qrcode_secret_env"] = _QR_SECRET_ENV
                update["payment_qrcode_token_env"] = _ACQUIRER_TOKEN_ENV  # one bank, one token for the run
        self._embedded_his = settings.his_url is None
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host  # an IPv6 address
        scheme = "https" if settings.tls_certificate is not None else "http"
        self._url = f"{scheme}://{host}:{settings.port}"
        return settings.model_copy(update=update)

    def reader_backends(self) -> Mapping[str, ReaderBackend]:
        return dict(self._backends)

    def sam_pins(self) -> Mapping[str, str]:
        # The demo PSAM's published PIN, so signed records work in the demo.
        return {DEMO_SAM_READER: DEMO_SAM_PIN}

    def seed(self, database: Database, payments: Payments | None) -> None:
        patient = demo_patient()
        if self._embedded_his:
            seed(database, _dt.datetime.now(CHINA_TZ).date(), patient=patient)
        if payments is not None:  # once per database: the key makes a restart a replay
            payments.top_up("demo-seed", "demo-prepaid-1", patient, DEMO_PREPAID_TOP_UP_FEN, "cash")

    def api_key(self, keys: ApiKeys) -> str:
        """Fresh demo keys each start, the last ones revoked: the ``his`` key is returned (the daemon prints
        it); the ``kiosk`` key goes into :meth:`notes`; both into ``HOME/demo-api-keys.json`` (0600)."""
        tokens: dict[str, str] = {}
        for name, scope in ((DEMO_KIOSK_KEY_NAME, Scope.KIOSK), (DEMO_KEY_NAME, Scope.HIS)):
            with contextlib.suppress(Exception):
                keys.revoke(name)
            tokens[str(scope)] = str(keys.create(name, [scope], created_by=_DAEMON_ACTOR)[1])
        facts: dict[str, object] = {"url": self._url, **tokens}
        if self._printer_pid is not None:
            facts["printer_pid"] = self._printer_pid
        facts |= self._idcard | self._bank | self._issuance
        _write_private(self._keys_file, json.dumps(facts, indent=2) + "\n")
        self._kiosk_key = tokens["kiosk"]
        self._notes += [
            f"demo keys of this run in {self._keys_file} (mode 0600; scripts/tour takes them from there)",
            f"demo kiosk key (scope kiosk: what a kiosk sees, ID numbers masked): {tokens['kiosk']}",
        ]
        return tokens["his"]

    def kiosk_key(self) -> str | None:
        return self._kiosk_key

    def notes(self) -> list[str]:
        return list(self._notes)

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._keys_file.unlink()  # the keys file names the running demo only
        for child in reversed(self._children):
            child.terminate()
        for child in reversed(self._children):
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
        self._children.clear()

    # -- the children ------------------------------------------------------------------------------------

    def _spawn(
        self, command: list[str], *, output: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A child running one of our modules (*output*: its stdout is ours to read, stderr dropped)."""
        child = subprocess.Popen(  # noqa: S603 - our own modules, by sys.executable
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if output else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if output else None,
            preexec_fn=_die_with_parent,
        )
        self._children.append(child)
        return child

    def _pcscd_up(self) -> bool:
        if self._pcscd is None:
            self._pcscd = _pcscd_reachable()
        return self._pcscd

    def _serve_cards(self) -> ReaderBinding:
        """The demo card and PSAM: through pcscd (a card-sim child), else in-process."""
        if self._pcscd_up():
            self._spawn(
                [sys.executable, "-m", "simulators.cli", "serve", "--vpcd", DEMO_VPCD, str(self._card_image),
                 "--sam-vpcd", DEMO_SAM_VPCD, str(self._sam_image)]
            )  # fmt: skip
            return DEMO_BINDING
        self._backends[_IN_PROCESS] = InProcessBackend(
            {DEMO_CARD_READER: load_card(self._card_image), DEMO_SAM_READER: load_card(self._sam_image)}
        )
        self._announce(
            "pcscd is not reachable: the demo cards run in-process instead (no PC/SC tools will see them)"
        )
        log.warning("pcscd not reachable; demo cards in-process")
        return DEMO_BINDING.model_copy(update={"kind": _IN_PROCESS})

    def _start_acquirer(self, settings: Settings) -> tuple[str, int]:
        """The demo's bank (its own SQLite in HOME, so what it approved survives the daemon being killed),
        which knows this daemon by a token made for the run: in the daemon's environment and the child's,
        never on a command line. It serves the card gateway over HTTP, the bank-card link over ISO 8583 and
        the QR-code gateway, which notifies this daemon (signed with a secret made for the run)."""
        port, iso_port = _free_port(), _free_port()
        os.environ[_ACQUIRER_TOKEN_ENV] = secrets.token_urlsafe(32)
        os.environ.setdefault(_QR_SECRET_ENV, secrets.token_urlsafe(32))
        notify = f"{self._url_of(settings)}/v1/payments/qrcode/notify"
        self._spawn(
            [sys.executable, "-m", "simulators.acquirer", "--port", str(port),
             "--database", f"sqlite:///{self._home / 'acquirer.db'}", "--token-env", _ACQUIRER_TOKEN_ENV,
             "--iso-port", str(iso_port), "--qr-secret-env", _QR_SECRET_ENV, "--qr-notify-url", notify]
        )  # fmt: skip
        deadline = time.monotonic() + 15
        for probe in (port, iso_port):
            while time.monotonic() < deadline:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", probe), timeout=0.2),
                ):
                    break
                time.sleep(0.1)
        self._notes.append(
            f"demo bank: QR codes are paid with curl -X POST http://127.0.0.1:{port}/control/qr/scan "
            "(as the payer's phone); the bank card's PIN is typed by the demo PIN pad"
        )
        self._bank["acquirer"] = f"http://127.0.0.1:{port}"
        return f"http://127.0.0.1:{port}", iso_port

    @staticmethod
    def _url_of(settings: Settings) -> str:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"{'https' if settings.tls_certificate is not None else 'http'}://{host}:{settings.port}"

    def _start_pinpad(self) -> PinPadBinding:
        """An encrypting PIN pad on a pty (``python -m simulators.pinpad``) with the demo bank's PIN key. It
        types the demo PIN by itself at every entry, so a demo sale needs no hands; ``ctl auto none`` then
        ``ctl type DIGITS`` / ``enter`` for a tester's own PIN."""
        link, control = self._home / "pinpad-tty", self._home / "pinpad.ctl"
        child = self._spawn(
            [sys.executable, "-m", "simulators.pinpad", "--link", str(link), "--control", str(control),
             "--auto-pin", DEMO_PIN],
            output=True,
        )  # fmt: skip
        assert child.stdout is not None
        for _ in range(3):  # pty, link, control
            line = child.stdout.readline().decode(errors="replace")
            if not line or line.startswith("control "):
                break
        if not control.exists():
            raise CardError("the demo PIN pad did not start")
        self._notes.append(
            f"demo PIN pad (types the demo PIN {DEMO_PIN} by itself): python -m simulators.pinpad ctl "
            f"--control {control} auto none | type 123456 | enter | cancel"
        )
        self._bank["pinpad_control"] = str(control)
        return PinPadBinding(name="demo", kind="serial", device=str(link))

    def _start_idcard_reader(self) -> IdCardReaderBinding:
        """An ID-card reader on a pty (``python -m simulators.idcard``), empty at start; the demo patient's
        resident ID card (synthetic, the demo card's holder) is placed and taken off through its control
        socket, for the kiosk's way in without a health card."""
        holder = json.loads(DEMO_HOLDER_PATH.read_text(encoding="utf-8"))["DDF1/EF06"]
        card = self._home / "sim" / "idcard-demo.json"
        card.write_text(json.dumps({
            "format": "cardservice.idcard-sim/1",
            "_comment": "SYNTHETIC: the demo card's holder (published test data), as a resident ID card.",
            "card_type": "resident", "name": holder["name"], "sex": str(holder["sex"]),
            "ethnicity": holder["ethnicity"], "birth_date": holder["birth_date"],
            "address": "北京市朝阳区示范路1号", "id_number": holder["id_number"],
            "authority": "北京市公安局示范分局",
            "valid_from": "2020-01-01", "valid_to": "2040-01-01", "fingerprint": 0,
        }, ensure_ascii=False), encoding="utf-8")  # fmt: skip
        link, control = self._home / "idcard-tty", self._home / "idcard.ctl"
        child = self._spawn(
            [sys.executable, "-m", "simulators.idcard", "--link", str(link), "--control", str(control)],
            output=True,
        )
        assert child.stdout is not None
        for _ in range(3):  # pty, link, control: ready once it has said where its control socket is
            line = child.stdout.readline().decode(errors="replace")
            if not line or line.startswith("control "):
                break
        if not control.exists():
            raise CardError("the demo ID-card reader did not start")
        self._idcard = {"idcard_control": str(control), "idcard_card": str(card)}
        self._notes.append(
            f"demo ID-card reader: python -m simulators.idcard ctl --control {control} place {card} "
            "(李明's ID card) / remove"
        )
        return IdCardReaderBinding(name="demo", kind="serial", device=str(link))

    def _start_issuance(self, settings: Settings) -> IssuanceConfig | None:
        """Self-service issuance for the demo kiosk (see the module docstring), or ``None`` where pcscd or
        its serial reader is missing, or that reader is configured for patients' cards: the dispenser's
        read position needs a PC/SC reader of its own."""
        twin = None
        if self._pcscd_up():
            with contextlib.suppress(ServiceUnavailableError):
                twin = next((name for name in list_readers() if name.startswith(_TWIN_READER)), None)
        configured = {getattr(entry, name, None) for entry in settings.readers for name in ("card", "reader")}
        if twin is None or twin in configured:
            why = "pcscd is not reachable" if not self._pcscd_up() else f"pcscd has no {_TWIN_READER} reader"
            why = f"{twin} is configured as a reader" if twin in configured else why
            self._announce(
                f"{why}: no card issuance (自助发卡) in this demo (scripts/pcscd-ctl start gives it)"
            )
            return None
        home = self._home / _ISSUANCE_HOME
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (home / "keys.json").exists():
            write_demo_keystore(home / "keys.json", _ISSUANCE_PASSPHRASE)
        port = _free_port()
        (home / "issuance-service.toml").write_text(
            f'# Written by cardservice serve --demo at each start.\nhost = "127.0.0.1"\nport = {port}\n'
            'keystore = "keys.json"\ncard_sim_transport_key = true\nlog_level = "WARNING"\n',
            encoding="utf-8",
        )
        database = open_database(f"sqlite:///{home / 'issuance.db'}")  # migrated here, before the child
        try:  # this kiosk's key at the service: a fresh one each start, the last one revoked
            keys = ApiKeys(database)
            with contextlib.suppress(Exception):
                keys.revoke(DEMO_KIOSK_KEY_NAME)
            os.environ[_ISSUANCE_TOKEN_ENV] = str(
                keys.create(DEMO_KIOSK_KEY_NAME, [Scope.ISSUER], created_by=_DAEMON_ACTOR)[1]
            )
            keys.close()
        finally:
            database.close()
        # The service reads CARDSERVICE_ISSUANCE_* and the transport key variable: none of the daemon's.
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("CARDSERVICE_ISSUANCE_") and name != "CARDSERVICE_TRANSPORT_KEY"
        }
        env |= {"CARDSERVICE_ISSUANCE_HOME": str(home), "CARDSERVICE_KEYS_PASSPHRASE": _ISSUANCE_PASSPHRASE}
        self._spawn([sys.executable, "-m", "cardservice.issuance_service", "serve"], env=env)
        cards, link, control = (
            self._home / name for name in ("dispenser-cards", "dispenser-tty", "dispenser.ctl")
        )
        shutil.rmtree(cards, ignore_errors=True)  # the simulator starts from a fresh stack
        child = self._spawn(
            [sys.executable, "-m", "simulators.dispenser", "--pty", str(link), "--vpcd", _TWIN_VPCD,
             "--cards", str(_DISPENSER_CARDS), "--dir", str(cards), "--control", str(control)],
            output=True,
        )  # fmt: skip
        assert child.stdout is not None
        for _ in range(4):  # stack, serial line, control: ready once it has said where its control socket is
            line = child.stdout.readline().decode(errors="replace")
            if not line or line.startswith("control "):
                break
        if not (control.exists() and _listening(port, 30)):
            self._announce(
                "the demo dispenser or issuance service did not start: no card issuance in this demo"
            )
            return None
        url = f"ws://127.0.0.1:{port}"
        self._issuance = {"dispenser_control": str(control), "issuance_service": url}
        ctl = f"python -m simulators.dispenser ctl --control {control}"
        self._notes += [
            f"card issuance (自助发卡) ready: {_DISPENSER_CARDS} blank cards in the demo dispenser, issuance "
            f"service {url}, registry {home / 'issuance.db'}: place an ID card, then 办理健康卡 on the kiosk",
            f"  the dispenser: {ctl} dispenser (its state) | refill count=20 | jam at=present | empty",
        ]
        return IssuanceConfig(
            service_url=url, token_env=_ISSUANCE_TOKEN_ENV, dispenser="k720", device=str(link),
            options={"poll": 0.02, "timeout": 0.5}, reader=twin, wait=15,
        )  # fmt: skip

    def _start_printer(self) -> PrinterBinding:
        """A child, not a thread, so a tester can take its paper away (``kill -USR1 PID``) and the daemon
        meets the problem as with a real printer."""
        out = self._home / DEMO_PRINTER_DIR
        out.mkdir(parents=True, exist_ok=True, mode=0o700)  # tickets carry masked names and amounts
        child = self._spawn(
            [sys.executable, "-m", "simulators.escpos", "--tcp", "127.0.0.1:0", "--out", str(out)],
            output=True,
        )
        assert child.stdout is not None
        line = child.stdout.readline().decode(errors="replace").strip()  # "tcp 127.0.0.1:PORT", or EOF
        host, _, port = line.removeprefix("tcp ").rpartition(":")
        if not line.startswith("tcp ") or not port.isdigit():
            raise CardError(f"the demo printer did not start ({line or 'no output'})")
        self._printer_pid = child.pid
        self._notes.append(
            f"demo printer: tickets in {out} (PNG + text); kill -USR1 {child.pid} takes its paper away / "
            "puts it back"
        )
        return PrinterBinding(name=DEMO_PRINTER, kind="network", host=host, port=int(port), timeout=5)
