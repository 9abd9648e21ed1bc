"""PACS credentials and transport (issue 30, item 6), without a PACS.

* A DICOMweb URL carrying ``user:password`` is refused, with a message that
  says where credentials go and never repeats the URL or the password
  (settings, client, command line, dashboard).
* Plain ``http://`` to a host other than this machine needs
  ``CRANIOSCAN_DICOMWEB_ALLOW_HTTP=1``.
* While TLS verification is off the client warns (the dashboard's banner
  is tested in ``test_pacs_security_banner.py``).
"""

import logging

import pytest

from cranioscan.pacs.client import PacsClient, PacsError
from cranioscan.pacs.config import PacsConfig, from_env

SECRET = "S3cr3tPa55"
#: Port 9 on loopback: nothing listens, so nothing here reaches a server.
WITH_PASSWORD = f"http://reader:{SECRET}@127.0.0.1:9/dicom-web"


@pytest.mark.parametrize("url", [WITH_PASSWORD, f"https://reader:{SECRET}@pacs.example.org/x",
                                 f"https://{SECRET}@pacs.example.org/dicom-web"])
def test_url_with_credentials_is_refused_without_echo(url):
    with pytest.raises(ValueError) as refused:
        from_env({"CRANIOSCAN_DICOMWEB_URL": url})
    message = str(refused.value)
    assert SECRET not in message and "reader" not in message and "pacs.example" not in message
    assert "CRANIOSCAN_DICOMWEB_PASSWORD" in message and "CRANIOSCAN_DICOMWEB_TOKEN" in message
    with pytest.raises(PacsError) as client_refused:
        PacsClient(url)
    assert SECRET not in str(client_refused.value)
    with pytest.raises(PacsError):
        PacsClient(PacsConfig(url=url))


def test_command_line_refuses_credentials_in_the_url_and_writes_nothing(tmp_path, capsys):
    from cranioscan.cli import main as cli

    out = tmp_path / "r.csv"
    code = cli.main(["predict", "--dicomweb", WITH_PASSWORD, "--study", "1.2.3",
                     "--out", str(out)])
    said = capsys.readouterr()
    assert code == 2 and SECRET not in said.out + said.err
    assert "CRANIOSCAN_DICOMWEB_PASSWORD" in said.err
    assert not out.exists() and not (tmp_path / "r_series.csv").exists()


@pytest.mark.parametrize("url", ["http://pacs.example.org/dicom-web", "http://10.1.2.3:8042/dw",
                                 "http://localhost.example.org/dw"])
def test_plain_http_to_another_machine_needs_the_explicit_option(url):
    with pytest.raises(PacsError, match="CRANIOSCAN_DICOMWEB_ALLOW_HTTP=1"):
        PacsClient(PacsConfig(url=url))
    with pytest.raises(ValueError, match="unencrypted"):
        from_env({"CRANIOSCAN_DICOMWEB_URL": url})
    allowed = from_env({"CRANIOSCAN_DICOMWEB_URL": url, "CRANIOSCAN_DICOMWEB_ALLOW_HTTP": "1"})
    with PacsClient(allowed) as client:
        assert client.url == url
    with PacsClient(PacsConfig(url=url.replace("http:", "https:"))):
        pass


@pytest.mark.parametrize("url", ["http://127.0.0.1:8042/dicom-web", "http://localhost/dw",
                                 "http://[::1]:8042/dw", "http://127.3.2.1/dw"])
def test_plain_http_on_this_machine_is_accepted(url):
    with PacsClient(PacsConfig(url=url)) as client:
        assert client.url == url
    assert from_env({"CRANIOSCAN_DICOMWEB_URL": url}).url == url


def test_tls_verification_off_warns(caplog):
    config = from_env({"CRANIOSCAN_DICOMWEB_URL": "https://pacs.example.org/dicom-web",
                       "CRANIOSCAN_DICOMWEB_VERIFY": "0"})
    assert config.verify is False and config.security_warnings
    with caplog.at_level(logging.WARNING, logger="cranioscan.pacs.client"):
        PacsClient(config).close()
    assert any("TLS verification of the PACS is off" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cranioscan.pacs.client"):
        PacsClient(PacsConfig(url="https://pacs.example.org/dicom-web")).close()
    assert not caplog.records and not PacsConfig(url="https://x.org").security_warnings
