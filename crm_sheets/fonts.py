"""Find a Simplified-Chinese font for PDF output (fpdf2) and charts (matplotlib).

Without one, Chinese comes out as empty boxes ("tofu"). Font collections (.ttc)
hold several faces: Noto Sans CJK's face 0 is *Japanese* (different glyph forms
for many characters), so the face is chosen by its name, never by position.
`CRM_CJK_FONT=/path/font.ttc` (optionally `#face`) overrides the search.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "no Simplified-Chinese font found: Chinese text in PDF and chart images would show as "
    "empty boxes. Install one — Debian/Ubuntu: sudo apt install fonts-noto-cjk; "
    "Fedora: sudo dnf install google-noto-sans-cjk-fonts; Arch: sudo pacman -S noto-fonts-cjk; "
    "macOS and Windows ship PingFang SC / Microsoft YaHei; or set CRM_CJK_FONT=/path/to/font"
)

# Family names that draw Simplified-Chinese glyph forms, best first.
SC_FAMILIES = (
    "Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "Source Han Sans CN",
    "Microsoft YaHei", "微软雅黑", "PingFang SC", "苹方-简", "WenQuanYi Micro Hei",
    "文泉驿微米黑", "WenQuanYi Zen Hei", "文泉驿正黑", "SimHei", "黑体", "Heiti SC",
    "Hiragino Sans GB", "Noto Serif CJK SC", "Source Han Serif SC", "SimSun", "宋体",
    "Arial Unicode MS",
)

_CANDIDATE_FILES = {
    "linux": (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
        "/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJKsc-Regular.otf",
        "/usr/share/fonts/adobe-source-han-sans/SourceHanSansSC-Regular.otf",
        "/usr/share/fonts/opentype/source-han-sans/SourceHanSans-Regular.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
        "/usr/share/fonts/wenquanyi/wqy-zenhei/wqy-zenhei.ttc",
        "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    ),
    "darwin": (
        "/System/Library/Fonts/PingFang.ttc",
        "/System/Library/Fonts/STHeiti Medium.ttc",
        "/System/Library/Fonts/STHeiti Light.ttc",
        "/System/Library/Fonts/Hiragino Sans GB.ttc",
        "/Library/Fonts/Arial Unicode.ttf",
        "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
    ),
    "win32": (
        "msyh.ttc", "msyh.ttf", "simhei.ttf", "Deng.ttf", "simsun.ttc",
    ),
}


@dataclass(frozen=True)
class CjkFont:
    """A font file and the face in it that draws Simplified Chinese."""

    path: Path
    face: int  # index in a .ttc collection (0 for a single font)
    family: str


def _face_names(path: Path) -> list[list[str]]:
    """For each face of a font file, its family names (all languages)."""
    from fontTools.ttLib import TTCollection, TTFont

    def names(font: object) -> list[str]:
        table = font["name"]  # type: ignore[index]
        out = []
        for rec in table.names:
            if rec.nameID in (1, 4, 16):
                try:
                    out.append(rec.toUnicode())
                except UnicodeDecodeError:
                    continue
        return out

    if path.suffix.lower() in (".ttc", ".otc"):
        coll = TTCollection(str(path), lazy=True)
        try:
            return [names(f) for f in coll.fonts]
        finally:
            coll.close()
    font = TTFont(str(path), lazy=True)
    try:
        return [names(font)]
    finally:
        font.close()


def _sc_face(path: Path) -> CjkFont | None:
    """The Simplified-Chinese face of a font file, or None."""
    try:
        faces = _face_names(path)
    except Exception:  # noqa: BLE001 - unreadable font files are just skipped
        return None
    for family in SC_FAMILIES:
        for i, names in enumerate(faces):
            if any(n == family or n.startswith(family + " ") for n in names):
                return CjkFont(path=path, face=i, family=family)
    # A face whose name says "SC"/"GB"/"CN" (Simplified) when the family is not listed.
    for i, names in enumerate(faces):
        for n in names:
            if any(tag in n.split() for tag in ("SC", "GB", "CN")):
                return CjkFont(path=path, face=i, family=n)
    return None


def _windows_font_dir() -> Path:
    return Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts"


def candidate_files() -> list[Path]:
    """Known font locations for this platform, then whatever fontconfig reports for zh-cn."""
    plat = "win32" if sys.platform == "win32" else "darwin" if sys.platform == "darwin" else "linux"
    files: list[Path] = []
    for name in _CANDIDATE_FILES[plat]:
        p = _windows_font_dir() / name if plat == "win32" else Path(name)
        files.append(p)
    if plat == "win32":
        local = os.environ.get("LOCALAPPDATA")
        if local:
            files += [Path(local) / "Microsoft" / "Windows" / "Fonts" / n
                      for n in _CANDIDATE_FILES["win32"]]
    if plat != "win32" and shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=zh-cn", "file"], capture_output=True,
                                 text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in sorted(out.splitlines()):
            path = line.split(":", 1)[0].strip()
            if path and "Bold" not in path:
                files.append(Path(path))
    return files


def _from_env() -> CjkFont | None:
    spec = os.environ.get("CRM_CJK_FONT")
    if not spec:
        return None
    path_s, _, face_s = spec.partition("#")
    path = Path(path_s).expanduser()
    if not path.is_file():
        return None
    if face_s.isdigit():
        return CjkFont(path=path, face=int(face_s), family=path.stem)
    return _sc_face(path) or CjkFont(path=path, face=0, family=path.stem)


def find_cjk_font(candidates: list[Path] | None = None) -> CjkFont | None:
    """The first Simplified-Chinese font found (env override, known paths, fontconfig)."""
    env = _from_env()
    if env is not None:
        return env
    seen: set[Path] = set()
    for path in candidates if candidates is not None else candidate_files():
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        found = _sc_face(path)
        if found is not None:
            return found
    return None


_warned = False


def warn_missing_once() -> None:
    """Say once per process, on stderr, that no Chinese font exists and how to get one."""
    global _warned
    if not _warned:
        _warned = True
        print(f"crm: warning: {INSTALL_HINT}", file=sys.stderr)


@functools.lru_cache(maxsize=1)
def cjk_font() -> CjkFont | None:
    """The font every PDF and chart uses (searched once per process); warns when missing."""
    font = find_cjk_font()
    if font is None:
        warn_missing_once()
    return font


def matplotlib_family() -> list[str]:
    """Register the CJK font with matplotlib and return the font.family list to use."""
    from matplotlib import font_manager

    font = cjk_font()
    if font is None:
        return ["DejaVu Sans"]
    known = {f.name for f in font_manager.fontManager.ttflist}
    if font.family not in known:
        try:
            font_manager.fontManager.addfont(str(font.path))
        except (OSError, RuntimeError, ValueError):
            return ["DejaVu Sans"]
        known = {f.name for f in font_manager.fontManager.ttflist}
    family = font.family if font.family in known else _matplotlib_name(font)
    return [family, "DejaVu Sans"]


def _matplotlib_name(font: CjkFont) -> str:
    """The family name matplotlib registered for this face (its English name)."""
    from matplotlib import font_manager

    for entry in font_manager.fontManager.ttflist:
        if Path(entry.fname) == font.path and getattr(entry, "face_index", 0) == font.face:
            return entry.name
    return font.family
