"""`crm serve [HOME]`: the team portal (DESIGN §8) under uvicorn, with the home's watcher.

The app is `crm_sheets.portal.create_app`; this module only reads the options, prints
the address in the home's language and runs the server until Ctrl-C (which stops the
watcher too: the app's lifespan ends it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..errors import CrmError
from ..home import find_home, open_home
from ..i18n import t
from .app import cli


@cli.command("serve")
@click.argument("home", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: the office network).")
@click.option("--port", type=int, default=8750, show_default=True, help="Port to listen on.")
@click.option("--cert", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="TLS certificate (PEM) to serve HTTPS; needs --key.")
@click.option("--key", "keyfile", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="TLS private key (PEM) for --cert.")
@click.option("--no-watch", is_flag=True, help="Do not run the home's watcher alongside.")
def serve_cmd(home: Path | None, host: str, port: int, cert: Path | None, keyfile: Path | None,
              no_watch: bool) -> None:
    """Serve the team portal: everyone logs in from a browser (Ctrl-C stops it)."""
    import uvicorn

    from ..portal import create_app

    crm_home = open_home(home) if home is not None else find_home()
    if crm_home is None:
        raise CrmError(t("没有 CRM 主目录：请给出 HOME 或设置 CRM_HOME",
                         "no CRM home: give HOME or set CRM_HOME"))
    lang = crm_home.lang
    if (cert is None) != (keyfile is None):
        raise CrmError(t("--cert 和 --key 需要一起给出", "--cert and --key go together", lang))
    for p in (cert, keyfile):
        if p is not None and not p.is_file():
            raise CrmError(t(f"找不到文件 {p}", f"no such file: {p}", lang))
    tls = cert is not None
    app = create_app(crm_home.root, watch=not no_watch, secure_cookies=tls)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    scheme = "https" if tls else "http"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"{scheme}://{shown}:{port}/"
    click.echo(t(f"CRM 团队门户：{url}（主目录 {crm_home.root}）", f"CRM team portal: {url} "
                 f"(home {crm_home.root})", lang))
    if host in ("0.0.0.0", "::"):
        click.echo(t("已对局域网开放：同事用本机的 IP 地址和端口访问",
                     "open to the office network: colleagues use this machine's IP address "
                     "and port", lang))
    if not no_watch:
        click.echo(t("同时监视主目录（--no-watch 可关闭）", "watching the home too "
                     "(--no-watch to leave it out)", lang))
    click.echo(t("按 Ctrl-C 停止", "press Ctrl-C to stop", lang))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            ssl_certfile=str(cert) if cert else None,
                            ssl_keyfile=str(keyfile) if keyfile else None, lifespan="on")
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # port in use, address not available
        raise CrmError(t(f"无法在 {host}:{port} 上监听：{exc.strerror or exc}",
                         f"cannot listen on {host}:{port}: {exc.strerror or exc}", lang)) from None
    click.echo(t("门户已停止", "portal stopped", lang))
