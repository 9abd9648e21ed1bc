"""docs/security.md: the threat model and team deployment, true to the code (issue 30, item 9).

The document must cover the three settings (one laptop, a teaching room, a
reading room), say what each protection covers, and how to deploy for a
team (sign-in with the hospital's identity provider, TLS in a reverse
proxy, where the review log lives); the README links it. The settings it
names must be the ones the code reads, so the document cannot drift.
"""

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "security.md"


def doc():
    return DOC.read_text(encoding="utf-8")


def test_threat_model_protections_and_team_deployment_are_there():
    text = doc()
    for heading in ("## Threat model", "## What each protection covers", "## Deploying for a team",
                    "## Dependencies"):
        assert heading in text, heading
    for setting in ("One laptop", "teaching room", "reading room"):
        assert setting in text, setting
    for topic in ("st.login", "[auth]", "reverse proxy", "TLS", "CRANIOSCAN_REVIEW_DB",
                  "server.allowedHosts", "pip-audit"):
        assert topic in text, topic


def test_readme_links_the_document():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "[docs/security.md](docs/security.md)" in readme


def test_every_setting_named_exists_in_the_code():
    code = "\n".join(path.read_text(encoding="utf-8")
                     for path in (REPO / "cranioscan").rglob("*.py"))
    for name in set(re.findall(r"CRANIOSCAN_[A-Z_]+[A-Z]", doc())):
        assert name in code, f"docs/security.md names {name}, which no code reads"


def test_allowed_hosts_and_address_match_the_config():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    hosts = config["server"]["allowedHosts"]
    assert sorted(hosts) == sorted(["localhost", "127.0.0.1", "::1"])
    assert "localhost, 127.0.0.1, ::1" in doc()
