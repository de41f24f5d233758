"""The access log `ivr serve` writes (ivr.gunicorn_logging.MaskedLogger) is gunicorn's own line, numbers masked,
whether it is made from only the atoms its format names or from gunicorn's full atoms()."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from ivr.gunicorn_logging import MaskedLogger

DEFAULT = Config().access_log_format
FIXED = ('%(h)s %(l)s %(u)s "%(r)s" %(s)s %(m)s %(U)s %(q)s %(H)s %(b)s %(B)s "%(f)s" "%(a)s" %(T)s %(D)s %(M)s '
         '%(L)s %(p)s %(nosuchatom)s')
NO_TIME = DEFAULT.replace(" %(t)s", "")
REQUESTS = [
    ({"REQUEST_METHOD": "POST", "RAW_URI": "/voice/incoming?lang=pt", "SERVER_PROTOCOL": "HTTP/1.1",
      "PATH_INFO": "/voice/incoming", "QUERY_STRING": "lang=pt", "REMOTE_ADDR": "10.0.0.7",
      "HTTP_USER_AGENT": "TwilioProxy/1.1"}, "200 OK", 312),
    ({"REQUEST_METHOD": "GET", "RAW_URI": "/desk/numbers/%2B14155550123?line=%2B18005551212",
      "SERVER_PROTOCOL": "HTTP/1.0", "PATH_INFO": "/desk/numbers/+14155550123", "QUERY_STRING": "line=%2B18005551212",
      "HTTP_REFERER": "https://desk.example/desk/numbers/%2B447911123456", "REMOTE_ADDR": "10.0.0.1",
      "HTTP_USER_AGENT": 'Mozilla/5.0 "quoted"', "HTTP_AUTHORIZATION": "Basic bWFuYWdlcjpzZWNyZXQ="}, 404, None),
    ({"REQUEST_METHOD": "GET", "RAW_URI": "/api/check?number=+14155550123", "SERVER_PROTOCOL": "HTTP/1.1",
      "PATH_INFO": "/api/check", "QUERY_STRING": "number=+14155550123"}, "503 SERVICE UNAVAILABLE", 0),
]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Any:
    handler = _Lines()
    access = logging.getLogger("gunicorn.access")
    access.addHandler(handler)
    yield handler.lines
    access.removeHandler(handler)


def _config(fmt: str) -> Config:
    cfg = Config()
    cfg.set("accesslog", "/dev/null")
    cfg.set("access_log_format", fmt)
    return cfg


def _write(logger: Logger, environ: dict[str, str], status: Any, sent: Any) -> None:
    resp = SimpleNamespace(status=status, sent=sent, headers=[("Content-Type", "text/xml")])
    req = SimpleNamespace(headers=[(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")])
    logger.access(resp, req, environ, timedelta(seconds=1, microseconds=2345))


@pytest.mark.parametrize("fmt", [NO_TIME, FIXED])
@pytest.mark.parametrize("masked", [False, True])
def test_a_line_from_only_its_atoms_is_gunicorns_own(lines: list[str], monkeypatch: Any, fmt: str,
                                                     masked: bool) -> None:
    monkeypatch.setattr(MaskedLogger, "masked", masked)
    lean = MaskedLogger(_config(fmt))
    assert lean._lean_names is not None  # the format names only fixed atoms: the line is made from them alone
    full = MaskedLogger(_config(fmt))
    full._lean_names = None  # gunicorn's atoms(), then the masking
    plain = Logger(_config(fmt))
    for environ, status, sent in REQUESTS:
        for logger in (lean, full, plain):
            _write(logger, environ, status, sent)
    assert len(lines) == 3 * len(REQUESTS)
    for i in range(len(REQUESTS)):
        made, reference, gunicorns = lines[3 * i: 3 * i + 3]
        assert made == reference
        assert (made == gunicorns) is (not masked or i == 0)  # only the first request carries no number
    if masked:
        text = "\n".join(lines[0::3])
        assert "14155550123" not in text and "447911123456" not in text and "18005551212" not in text
        assert "%2B1415555****" in text and "+1415555****" in text
    assert '"Mozilla/5.0 \\"quoted\\""' in lines[3] and " manager " in lines[3]  # escaped as gunicorn does; Basic user
    assert lines[6].split(" ")[0] == "-"  # no REMOTE_ADDR


def test_the_time_atom_is_gunicorns(lines: list[str]) -> None:
    lean, plain = MaskedLogger(_config(DEFAULT)), Logger(_config(DEFAULT))
    assert lean._lean_names is not None
    for _attempt in range(5):
        lines.clear()
        before = int(time.time())
        _write(lean, *REQUESTS[0])
        _write(plain, *REQUESTS[0])
        if int(time.time()) == before:  # both within one second
            break
    assert lines[0] == lines[1] and "[" in lines[0] and "/" + time.strftime("%Y") + ":" in lines[0]


def test_a_format_naming_headers_or_environ_goes_through_gunicorns_atoms(lines: list[str]) -> None:
    fmt = '%(h)s "%(r)s" %({referer}i)s %({raw_uri}e)s %({content-type}o)s'
    logger = MaskedLogger(_config(fmt))
    assert logger._lean_names is None
    _write(logger, *REQUESTS[1])
    assert lines == ['10.0.0.1 "GET /desk/numbers/%2B1415555****?line=%2B1800555**** HTTP/1.0" '
                     "https://desk.example/desk/numbers/%2B44791112**** "
                     "/desk/numbers/%2B1415555****?line=%2B1800555**** text/xml"]


def test_no_line_when_the_access_log_is_off(lines: list[str]) -> None:
    cfg = Config()  # no --access-logfile
    logger = MaskedLogger(cfg)
    _write(logger, *REQUESTS[0])
    assert lines == []
