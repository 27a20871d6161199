"""``burgerhub organisations``: load the example, make, list and revoke tokens; a bad file names its line."""

from __future__ import annotations

import json

import pytest
from hub.errors import ConfigError

from partners_support import EXAMPLES


@pytest.fixture
def run(run):
    """The command line, which must succeed; its JSON answer."""

    def invoke(*args):
        result = run(*args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    return invoke


def test_load_list_token_add_and_revoke(run):
    assert run("organisations", "load", str(EXAMPLES))["loaded"] == [
        "gemeente-utrecht", "meldkamer-midden-nederland", "brandweer-utrecht"]
    ids = [o["id"] for o in run("organisations", "list")["organisations"]]
    assert ids[0] == "national" and "gemeente-utrecht" in ids
    made = run("organisations", "token", "add", "gemeente-utrecht", "J. Jansen", "--role", "operator")
    assert made["token"].startswith("org_") and made["role"] == "operator"
    shown = run("organisations", "show", "gemeente-utrecht")
    assert [t["id"] for t in shown["tokens"]] == [made["id"]] and "token" not in shown["tokens"][0]
    assert run("organisations", "token", "revoke", made["id"])["revoked_at"] is not None
    national = run("organisations", "token", "add", "national", "Landelijk beheer", "--role", "operator")
    assert national["organisation"] == "national"


def test_a_bad_file_names_file_line_and_field(run, tmp_path):
    bad = tmp_path / "orgs.yaml"
    bad.write_text("organisations:\n  - id: gem-x\n    name: Gemeente X\n    kind: municipality\n")
    with pytest.raises(ConfigError) as e:
        run("organisations", "load", str(bad))
    assert f"{bad}, line 2: organisations[0]" in str(e.value) and "territory" in str(e.value)
