"""CLI tests for `lab topo show/check` (no root): exit codes and one-line errors."""

from __future__ import annotations

import json

from lab.cli.main import main


def test_topo_check_ok(capsys):
    assert main(["topo", "check", "routed"]) == 0
    assert "ok (4 hosts, 1 routers, 2 switches" in capsys.readouterr().out


def test_topo_check_bad_file(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("nodes: [h1, h2]\nlinks: [[h1, h9]]\n")
    assert main(["topo", "check", str(p)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lab: ") and "unknown node 'h9'" in err


def test_topo_show_json_and_svg(tmp_path, capsys):
    out = tmp_path / "t.svg"
    assert main(["topo", "show", "chain", "--json", "--svg", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "chain" and len(data["nodes"]) == 5
    assert out.read_text().startswith("<svg")


def test_topo_show_svg_unwritable(tmp_path, capsys):
    assert main(["topo", "show", "chain", "--svg", str(tmp_path / "no" / "t.svg")]) == 2
    assert capsys.readouterr().err.startswith("lab: --svg ")


def test_topo_show_png_refused(tmp_path, capsys):
    assert main(["topo", "show", "chain", "--png", str(tmp_path / "x.png")]) == 2
    assert "--svg" in capsys.readouterr().err


def test_topo_plan_dry_run(capsys):
    assert main(["topo", "plan", "dumbbell", "--run-id", "abc", "--no-netem"]) == 0
    out = capsys.readouterr().out
    assert "link add name r1-eth1 index 16 netns lab-abc-r1 type veth peer name r2-eth0" in out
    assert "loss 1% via nftables" in out
    assert main(["topo", "plan", "loopback"]) == 2
    assert main(["topo", "plan", "two-hosts", "--run-id", "BAD!"]) == 2


def test_exec_unknown_run(capsys):
    assert main(["exec", "nosuchrun", "h1", "--", "true"]) == 2
    assert "no run 'nosuchrun'" in capsys.readouterr().err


def test_up_interrupted_stops_its_keeper(monkeypatch, capsys):
    """Ctrl-C while the keeper brings the network up: the keeper (in its own session) is stopped too."""
    import lab.cli.topo as topo_cli

    class Keeper:
        terminated = False

        def __init__(self, *args, **kwargs):
            self.stdout = self

        def readline(self):
            raise KeyboardInterrupt

        def terminate(self):
            Keeper.terminated = True

        def wait(self, timeout=None):
            return -15

    monkeypatch.setattr(topo_cli.subprocess, "Popen", Keeper)
    monkeypatch.setattr(topo_cli.os, "geteuid", lambda: 0)
    assert main(["up", "two-hosts"]) == 130
    assert Keeper.terminated and capsys.readouterr().err.strip() == "lab: interrupted (SIGINT)"
