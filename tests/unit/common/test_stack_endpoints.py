"""Where ``ccplane up`` serves metrics: ``--metrics-port P`` puts the control
plane on P and the executor-manager on P+1; without it, the settings'."""

from __future__ import annotations

import pytest

from common.cli.main import build_parser
from common.cli.stack import Stack, StackOptions
from common.settings import Settings


@pytest.mark.parametrize(
    ("flag", "control_plane", "manager"),
    [(["--metrics-port", "9600"], 9600, 9601), (["--metrics-port", "0"], 0, 0), ([], None, 7002)],
)
def test_metrics_ports_of_ccplane_up(flag: list[str], control_plane: int | None, manager: int) -> None:
    args = build_parser().parse_args(["up", *flag])
    settings = Settings()
    settings.executor_manager_metrics_port = 7002
    stack = Stack(settings, StackOptions(metrics_port=args.metrics_port))
    assert stack.options.metrics_port == control_plane, "None: the control plane uses the settings' port"
    assert stack._manager_metrics_port() == manager
