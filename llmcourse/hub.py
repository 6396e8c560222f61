"""Is the Hugging Face Hub reachable? Decided quickly, never a hang.

Lesson 00 introduces it; `load_model` and `doctor` use it before touching the hub.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from urllib.parse import urlparse

HUB_URL = "https://huggingface.co"


def hub_offline_by_setting() -> bool:
    """True when the learner switched the hub off (``HF_HUB_OFFLINE=1``).

    >>> isinstance(hub_offline_by_setting(), bool)
    True
    """
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hub_reachable(timeout: float = 3.0) -> bool:
    """Return True if a connection to the hub (``$HF_ENDPOINT``, if set) opens within ``timeout`` seconds.

    Name lookup, connect and, for https, the TLS handshake are bounded together by
    ``timeout``; nothing is sent.

    >>> hub_reachable(timeout=0.5) in (True, False)
    True
    """
    if hub_offline_by_setting():
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", HUB_URL))
    host, tls = url.hostname or "huggingface.co", url.scheme != "http"
    port = url.port or (443 if tls else 80)
    answer: list[bool] = []

    def probe() -> None:  # name lookup ignores socket timeouts, so run it in a thread
        try:
            with socket.create_connection((host, port), timeout=timeout) as raw:
                if tls:  # a TLS handshake, so a proxy that accepts any connection does not count
                    ssl.create_default_context().wrap_socket(raw, server_hostname=host).close()
                answer.append(True)
        except OSError:
            answer.append(False)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(answer and answer[0])
