"""The realization of a topology: plan, kernel backend, running programs in nodes, cleanup.

Public API::

    from lab.emulation import Network, CapturePoint
    with Network(topo) as net:            # namespaces (root), or Network(topo, loopback=True)
        net.run("h1", ["ping", "-c1", net.ip("h2")])

Division of labour: ``plan`` turns a topology into steps, ``backend`` executes them (``nshelper`` does the
per-namespace work), ``conditions`` decides how links are impaired, ``state`` records what a run created,
``clean`` removes what dead runs left, ``network`` is the lifecycle users hold.
"""

from lab.emulation.network import CapturePoint, Network

__all__ = ["CapturePoint", "Network"]
