"""ECMA-376 agile encryption of views (msoffcrypto-tool): Excel, WPS and LibreOffice ask
for the password when opening; without it the file is an opaque OLE container."""

from __future__ import annotations

import io
from pathlib import Path

from ..errors import CrmError, Refused
from ..safezip import OLE_MAGIC


def is_encrypted(data: bytes) -> bool:
    return data[:8] == OLE_MAGIC


def encrypt_bytes(data: bytes, password: str) -> bytes:
    """An encrypted copy (AES-256, agile) of an xlsx held in memory."""
    from msoffcrypto.format.ooxml import OOXMLFile

    if not password:
        raise CrmError("加密需要密码 / encryption needs a password")
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()


def decrypt_bytes(data: bytes, password: str | None, name: str = "view", lang: str = "zh"
                  ) -> bytes:
    """The xlsx inside an encrypted file; a missing or wrong password is refused in one line."""
    import msoffcrypto

    if not password:
        raise Refused(f"{name} 已加密：请提供密码（--password-file 或提示输入）" if lang == "zh"
                      else f"{name} is encrypted: give its password (--password-file or the prompt)")
    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        office.load_key(password=password)
        out = io.BytesIO()
        office.decrypt(out)
    except Exception:  # noqa: BLE001 - msoffcrypto raises several types for a wrong key
        raise Refused(f"{name} 的密码不正确，或文件已损坏" if lang == "zh"
                      else f"wrong password for {name}, or the file is damaged") from None
    return out.getvalue()


def read_view_bytes(path: Path, password: str | None, lang: str = "zh") -> bytes:
    """A view's xlsx bytes, decrypted when it is encrypted."""
    data = Path(path).read_bytes()
    if is_encrypted(data):
        return decrypt_bytes(data, password, Path(path).name, lang)
    return data


# --- passwords the admin used for `crm views build --encrypt` ----------------------------------
# Kept in the home's private state folder (0600, beside the view-signing key, which is as
# sensitive) so the watcher can open an encrypted department copy handed back to the
# inbox. A copy encrypted with a person's own account password (`crm views mine
# --encrypt`) is never stored: the watcher sets such a copy aside for a manual merge.

PASSWORDS_FILE = "views-passwords.json"
KEEP_PASSWORDS = 8


def remember_password(state_dir: Path, password: str) -> None:
    """Remember a build password (newest first, the last few only), private to the user."""
    import json
    import os

    from ..writeback.atomic import atomic_write_bytes

    path = Path(state_dir) / PASSWORDS_FILE
    known = [p for p in _stored(path) if p != password]
    data = json.dumps([password, *known][:KEEP_PASSWORDS]).encode("utf-8")
    atomic_write_bytes(path, data)
    os.chmod(path, 0o600)


def _stored(path: Path) -> list[str]:
    import json

    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [p for p in items if isinstance(p, str) and p] if isinstance(items, list) else []


def stored_password(state_dir: Path, data: bytes) -> str | None:
    """The remembered build password that opens this encrypted file, or None."""
    import msoffcrypto

    for password in _stored(Path(state_dir) / PASSWORDS_FILE):
        try:
            office = msoffcrypto.OfficeFile(io.BytesIO(data))
            office.load_key(password=password, verify_password=True)
        except Exception:  # noqa: BLE001,S112 - wrong key or not ours: try the next one
            continue
        return password
    return None
