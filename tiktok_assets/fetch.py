"""Fetching a video from a URL with yt-dlp (the CLI's ``analyze URL`` and the API's
``{"url": ...}``): http(s) only, one video, at most ``TIKTOK_API_MAX_DOWNLOAD_MB`` MB and
``TIKTOK_MAX_DURATION_S`` seconds; and, for the API, which hosts a client may make this
server fetch from."""

from __future__ import annotations

import socket
from pathlib import Path

from resources.media_store import max_duration_default
from resources.settings import env_settings


def max_download_mb() -> float:
    """Largest download a ``url`` may bring, in MB (``TIKTOK_API_MAX_DOWNLOAD_MB``)."""
    return env_settings().api_max_download_mb


def url_hosts() -> list[str] | None:
    """Hosts a ``url`` may name (``TIKTOK_API_URL_HOSTS``, comma separated, ``*.example``
    for subdomains); None (unset) means any host whose addresses are public."""
    env = env_settings().api_url_hosts
    return [h.strip().lower() for h in env.split(",") if h.strip()] if env else None


def url_refusal(url: str) -> str | None:
    """Why ``url`` may not be fetched (None when it may). With no allow-list, a host that
    resolves to a loopback, private, link-local or reserved address is refused: a client
    must not make this server fetch from its own network."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https") or not host:
        return "only http and https URLs with a host"
    allowed = url_hosts()
    if allowed is not None:
        ok = any(host == a or (a.startswith("*.") and host.endswith(a[1:])) for a in allowed)
        return None if ok else f"host {host!r} is not in TIKTOK_API_URL_HOSTS"
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return f"host {host!r} does not resolve"
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not addr.is_global:
            return f"host {host!r} is on a private or local network"
    return None


class DownloadRefused(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code


def download(url: str, dest: Path) -> Path:
    """Fetch ``url`` with yt-dlp into ``dest`` (a new folder): http(s) only, at most
    ``max_download_mb()`` MB and ``TIKTOK_MAX_DURATION_S`` seconds, no playlists."""
    import yt_dlp
    from yt_dlp.utils import DownloadError, match_filter_func

    limit = int(max_download_mb() * 1e6)
    dest.mkdir(parents=True, exist_ok=True)
    opts = {
        "outtmpl": str(dest / "%(title).60B-%(id).40B.%(ext)s"),
        "format": "mp4/best",
        "noplaylist": True,
        "playlist_items": "1",
        "max_filesize": limit,
        # "<=?": passes when the duration is unknown (a plain file); the decode checks it
        "match_filter": match_filter_func(f"duration <=? {int(max_duration_default())}"),
        "allowed_extractors": ["default"],
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": 30,
        "retries": 1,
        "restrictfilenames": True,
    }
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            ydl.download([url])
    except DownloadError as exc:
        raise DownloadRefused(422, f"could not download {url[:200]}: {exc}") from exc
    except Exception as exc:  # yt-dlp's own failures must not become a 500
        raise DownloadRefused(422, f"could not download {url[:200]}: {type(exc).__name__}") from exc
    files = [p for p in dest.iterdir() if p.is_file() and not p.name.endswith(".part")]
    if not files:
        raise DownloadRefused(
            413,
            f"nothing downloaded from {url[:200]}: over {max_download_mb():.0f} MB or "
            f"{max_duration_default():.0f} s, or not a video",
        )
    return max(files, key=lambda p: p.stat().st_size)
