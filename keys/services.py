"""Writes for exchange keys. Secrets go in encrypted and come out only as `Credentials`
for the exchange adapter; nothing here logs, returns or raises them."""

import logging
import re
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import audit_record
from config.api import DomainError
from config.vault import InvalidToken, vault
from keys.models import ExchangeKey
from keys.selectors import key_test_status

log = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no whitespace


class KeyInvalid(DomainError):
    code = "invalid"


class KeyUnavailable(DomainError):
    code = "key_disabled"
    status = 409


class KeyUndecryptable(DomainError):
    code = "key_undecryptable"
    status = 503


def encryption_verify() -> str:
    """Fail fast at start: the keys must be well-formed and open what is stored.

    Returns a one-line status; raises ImproperlyConfigured otherwise. A database that
    cannot be reached is not this check's business (the health check reports it).
    """
    v = vault()
    try:
        sample = ExchangeKey.objects.order_by("-pk").values_list("secret_enc", flat=True).first()
    except Exception:  # noqa: BLE001 - no database yet: nothing stored to verify
        return "encryption keys loaded; database not reachable, stored secrets not verified"
    if sample is None:
        return "encryption keys loaded; no stored secrets yet"
    try:
        v.decrypt(sample)
    except InvalidToken:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS cannot decrypt the stored exchange keys: the key that encrypted them is "
            "missing. Put it back in FIELD_ENCRYPTION_KEYS (after the newest key) and restart."
        ) from None
    return "encryption keys loaded; stored secrets decrypt"


@lru_cache(maxsize=32)
def required_credentials(exchange: str) -> dict:
    """Which credentials the exchange asks for (ccxt's describe(); the class attribute is only the base's)."""
    import ccxt

    cls = getattr(ccxt, exchange, None)
    return dict(cls().requiredCredentials or {}) if cls else {}


# No fixed minimum length: exchanges issue keys of very different shapes (Binance 64 characters, a
# testnet or an emulator shorter ones, Coinbase a key name and a PEM private key), so which fields are
# needed comes from ccxt's `requiredCredentials` and whether they are right from the exchange itself
# (the connection test on save). Only the upper bounds guard the database and the encryption.
MAX_LENGTHS = {"api_key": 512, "secret": 512, "passphrase": 256, "uid": 128}
_PEM_RE = re.compile(r"^-----BEGIN ([A-Z ]+)-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----\s*$")


def _pem_clean(value: str) -> str | None:
    """A PEM private key (Coinbase's secret), possibly pasted into one line: back to proper PEM lines."""
    m = _PEM_RE.match(value.strip())
    if not m:
        return None
    body = "".join(m.group(2).split())
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {m.group(1)}-----", *lines, f"-----END {m.group(1)}-----"]) + "\n"


def _validate_token(field: str, value: str, *, required: bool, allow_pem: bool = False) -> str:
    value = value or ""
    max_len = MAX_LENGTHS[field]
    if not value:
        if required:
            raise KeyInvalid(f"{field} is required.", fields={field: ["This field is required."]})
        return ""
    if allow_pem and (pem := _pem_clean(value)) is not None:
        value = pem
    elif not _TOKEN_RE.match(value):
        msg = "Must not contain spaces, line breaks or non-ASCII characters (check for a copy-paste slip)."
        raise KeyInvalid(f"{field}: {msg}", fields={field: [msg]})
    if len(value) > max_len:
        msg = f"Must be at most {max_len} characters long."
        raise KeyInvalid(f"{field}: {msg}", fields={field: [msg]})
    return value


def _label_clean(label) -> str:
    label = (label or "").strip()
    if not label or len(label) > 64 or not label.isprintable():
        raise KeyInvalid("label: 1 to 64 printable characters.",
                         fields={"label": ["Give the key a name of 1 to 64 printable characters."]})
    return label


def _validate(*, exchange: str, label: str, api_key: str, secret: str, passphrase: str, uid: str) -> dict:
    if exchange not in settings.SUPPORTED_EXCHANGES:
        msg = f"Unsupported exchange. Choose one of: {', '.join(settings.SUPPORTED_EXCHANGES)}."
        raise KeyInvalid(msg, fields={"exchange": [msg]})
    label = _label_clean(label)
    needs = required_credentials(exchange)
    return {
        "label": label,
        "api_key": _validate_token("api_key", api_key, required=needs.get("apiKey", True)),
        "secret": _validate_token("secret", secret, required=needs.get("secret", True), allow_pem=True),
        "passphrase": _validate_token("passphrase", passphrase, required=bool(needs.get("password"))),
        "uid": _validate_token("uid", uid, required=bool(needs.get("uid"))),
    }


BALANCES_SHOWN = 20


def _balance_rows(balance: dict) -> list[dict]:
    """The assets with a balance, alphabetical, as exact decimal strings, at most BALANCES_SHOWN."""
    def d(v) -> Decimal | None:
        try:
            x = Decimal(str(v))
        except (ArithmeticError, ValueError, TypeError):
            return None
        return x if x.is_finite() else None

    def s(x: Decimal | None) -> str | None:
        if x is None:
            return None
        text = format(x, "f")
        return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"

    rows = []
    totals, free, used = (balance.get(k) or {} for k in ("total", "free", "used"))
    for asset, total in sorted(totals.items() if isinstance(totals, dict) else []):
        t = d(total)
        if t is None or t <= 0 or not isinstance(asset, str):
            continue
        rows.append({"asset": asset[:20], "free": s(d(free.get(asset))), "used": s(d(used.get(asset))),
                     "total": s(t)})
    return rows[:BALANCES_SHOWN]


def _read_balance(exchange: str, credentials, *, sandbox: bool) -> dict:
    """Connect with the key and read the balance (proves key, secret and passphrase): the summary
    check_credentials gives, plus the assets held, for the owner's eyes only (never stored or logged)."""
    from exchanges.adapter import (  # late: ccxt, see key_credentials
        InvalidCredentials,
        client_for,
        fetch_balance,
    )

    if not credentials.api_key or not credentials.secret:
        raise InvalidCredentials("An API key and a secret are both required.")
    balances = _balance_rows(fetch_balance(client_for(exchange, credentials, sandbox=sandbox)))
    return {"exchange": exchange, "sandbox": sandbox, "nonzero_assets": len(balances), "balances": balances}


def balances_text(balances: list[dict]) -> str:
    """"0.5 BTC · 2 ETH · 10000 USDT" for a message; "no assets" when empty."""
    return " · ".join(f"{b['total']} {b['asset']}" for b in balances) or "no assets"


class KeyRejected(DomainError):
    """The exchange refused the credentials on the connection test at save time: nothing was stored."""

    code = "invalid_credentials"


# What the exchange said about the key itself (save refused) vs. about reaching it (saved, untested).
REJECTING_CODES = {"invalid_credentials", "permission_denied", "sandbox_unavailable"}


def _connection_check(*, exchange: str, clean: dict, sandbox: bool) -> dict:
    """Run the connection test with not-yet-stored credentials; no transaction is open here.

    Returns the test columns to store: passed -> ok True; unreachable (down, slow, rate limited, odd
    reply) -> ok None, "untested", with the reason. A refusal of the key raises KeyRejected.
    """
    from exchanges.adapter import Credentials, ExchangeError  # late: ccxt, see key_credentials

    credentials = Credentials(api_key=clean["api_key"], secret=clean["secret"], passphrase=clean["passphrase"],
                              uid=clean["uid"])
    try:
        summary = _read_balance(exchange, credentials, sandbox=sandbox)
    except ExchangeError as exc:
        if exc.code in REJECTING_CODES:
            field = "sandbox" if exc.code == "sandbox_unavailable" else "secret"
            raise KeyRejected(f"Not saved: {exc.message}", fields={field: [exc.message]},
                              code=exc.code) from None
        return {"last_tested_at": None, "last_test_ok": None, "last_test_code": exc.code,
                "last_test_message": f"Saved untested: {exc.message} Test it again later."[:300]}
    return {"last_tested_at": timezone.now(), "last_test_ok": True, "last_test_code": "",
            "last_test_message": TEST_PASSED, "balances": summary["balances"]}


TEST_PASSED = "Connected: the key can read your balance."


def key_create(*, owner, exchange: str, label: str, api_key: str, secret: str, passphrase: str = "",
               uid: str = "", sandbox: bool = False, verify: bool = False, request=None) -> ExchangeKey:
    """Store a key. With `verify` the connection test runs first (pages and API do that): a key the
    exchange rejects is not stored; one it could not be asked about is stored, marked untested."""
    clean = _validate(exchange=exchange, label=label, api_key=api_key, secret=secret, passphrase=passphrase, uid=uid)
    duplicate = f"You already have a {exchange} key labelled '{clean['label']}'."
    if ExchangeKey.objects.filter(owner=owner, exchange=exchange, label=clean["label"]).exists():
        raise KeyInvalid(duplicate, fields={"label": [duplicate]})
    tested = _connection_check(exchange=exchange, clean=clean, sandbox=sandbox) if verify else {}
    balances = tested.pop("balances", None)
    v = vault()
    key = ExchangeKey(
        owner=owner, exchange=exchange, label=clean["label"], sandbox=sandbox,
        api_key_enc=v.encrypt(clean["api_key"]), secret_enc=v.encrypt(clean["secret"]),
        passphrase_enc=v.encrypt(clean["passphrase"]) if clean["passphrase"] else "",
        uid_enc=v.encrypt(clean["uid"]) if clean["uid"] else "",
        enc_key_id=v.primary_id, api_key_hint=clean["api_key"][-4:], **tested,
    )
    try:
        with transaction.atomic():
            key.save()
            details = {"exchange": exchange, "label": key.label, "hint": key.api_key_hint}
            if verify:
                details["test"] = key_test_status(key)
            audit_record(action="key.create", actor=owner, target=f"key:{key.pk}", request=request, details=details)
    except IntegrityError:
        raise KeyInvalid(duplicate, fields={"label": [duplicate]}) from None
    key.balances = balances  # what the test on save read; shown once, never stored
    return key


def key_relabel(*, key: ExchangeKey, label: str, actor, request=None) -> ExchangeKey:
    label = _label_clean(label)
    old = key.label
    key.label = label
    try:
        with transaction.atomic():
            key.save(update_fields=["label"])
            audit_record(action="key.relabel", actor=actor, target=f"key:{key.pk}", request=request,
                         details={"from": old, "to": label})
    except IntegrityError:
        key.label = old
        msg = f"You already have a {key.exchange} key labelled '{label}'."
        raise KeyInvalid(msg, fields={"label": [msg]}) from None
    return key


def key_delete(*, key: ExchangeKey, actor, request=None) -> None:
    with transaction.atomic():
        audit_record(action="key.delete", actor=actor, target=f"key:{key.pk}", request=request,
                     details={"exchange": key.exchange, "label": key.label, "hint": key.api_key_hint})
        key.delete()


def keys_revoke_all(*, owner, request=None) -> int:
    """Incident response: every key of the user is deleted, secrets and all."""
    with transaction.atomic():
        keys = list(ExchangeKey.objects.select_for_update().filter(owner=owner).order_by("pk"))
        for key in keys:
            key.delete()
        audit_record(action="key.revoke_all", actor=owner, target=f"user:{owner.pk}", request=request,
                     details={"deleted": len(keys)})
    return len(keys)


def key_disable(*, key: ExchangeKey, actor, reason: str = "Disabled by staff", request=None) -> ExchangeKey:
    with transaction.atomic():
        key.is_active = False
        key.disabled_reason = reason[:200]
        key.save(update_fields=["is_active", "disabled_reason"])
        audit_record(action="key.disable", actor=actor, target=f"key:{key.pk}", request=request,
                     details={"reason": key.disabled_reason})
    return key


def key_credentials(*, key: ExchangeKey):
    """Decrypt for the exchange adapter only. Paper trading never calls this."""
    # Late: the adapter imports ccxt (about 0.4 s and 70 MB); web processes that never test a key skip it.
    from exchanges.adapter import Credentials  # late: ccxt, see key_credentials

    if not key.is_active:
        raise KeyUnavailable(f"This key is disabled: {key.disabled_reason or 'by staff'}.")
    v = vault()
    try:
        return Credentials(
            api_key=v.decrypt(key.api_key_enc), secret=v.decrypt(key.secret_enc),
            passphrase=v.decrypt(key.passphrase_enc) if key.passphrase_enc else "",
            uid=v.decrypt(key.uid_enc) if key.uid_enc else "",
        )
    except InvalidToken:
        log.error("exchange key %s cannot be decrypted with the configured FIELD_ENCRYPTION_KEYS", key.pk)
        raise KeyUndecryptable("This key cannot be decrypted with the server's current encryption keys; "
                               "the operator has been told.") from None


def key_test(*, key: ExchangeKey, actor, request=None) -> dict:
    """Connect with ccxt and call an authenticated endpoint; record and return the outcome.

    Returns {"ok": True, ...} or {"ok": False, "status": int, "error": {"code", "message"}}.
    The exchange call happens outside any transaction.
    """
    from exchanges.adapter import ExchangeError  # late: ccxt, see key_credentials

    credentials = key_credentials(key=key)
    try:
        summary = _read_balance(key.exchange, credentials, sandbox=key.sandbox)
        outcome = {"ok": True, "message": TEST_PASSED, **summary}
        code, message, status = "", outcome["message"], 200
    except ExchangeError as exc:
        code, message, status = exc.code, exc.message, exc.status
        outcome = {"ok": False, "status": status, "error": {"code": code, "message": message}}
    now = timezone.now()
    with transaction.atomic():
        ExchangeKey.objects.filter(pk=key.pk).update(
            last_tested_at=now, last_test_ok=outcome["ok"], last_test_code=code, last_test_message=message[:300])
        audit_record(action="key.test", actor=actor, target=f"key:{key.pk}", request=request,
                     details={"ok": outcome["ok"], "code": code})
    key.last_tested_at, key.last_test_ok, key.last_test_code, key.last_test_message = now, outcome["ok"], code, message
    outcome["tested_at"] = now.isoformat()
    return outcome


# Every model that keeps Fernet tokens: (model, encrypted fields). It has an `enc_key_id` column.
def encrypted_models() -> list[tuple[type, list[str]]]:
    """Every model holding secrets under the vault: it declares `ENCRYPTED_FIELDS` and an `enc_key_id`."""
    from django.apps import apps

    return [(m, list(m.ENCRYPTED_FIELDS)) for m in apps.get_models() if getattr(m, "ENCRYPTED_FIELDS", None)]


def secrets_rotate_batch(*, model, fields: list[str], batch_size: int, skip: set[int]) -> tuple[int, list[int]]:
    """Re-encrypt one batch of rows under the newest key. Returns (rotated, undecryptable ids).

    Rows already under the newest key are not touched, so an interrupted run simply resumes.
    """
    v = vault()
    rotated, failed = 0, []
    with transaction.atomic():
        rows = list(model.objects.select_for_update(skip_locked=True)
                    .exclude(enc_key_id=v.primary_id).exclude(pk__in=skip).order_by("pk")[:batch_size])
        for row in rows:
            try:
                values = {f: v.rotate(getattr(row, f)) if getattr(row, f) else "" for f in fields}
            except InvalidToken:
                failed.append(row.pk)
                continue
            for name, value in values.items():
                setattr(row, name, value)
            row.enc_key_id = v.primary_id
            row.save(update_fields=[*fields, "enc_key_id"])
            rotated += 1
    return rotated, failed


def secrets_pending_count() -> int:
    v = vault()
    return sum(model.objects.exclude(enc_key_id=v.primary_id).count() for model, _ in encrypted_models())
