"""lab: a network simulation and packet-capture lab that explains every packet.

The package is laid out by the stages a run's data passes through (see STYLE): ``topology`` describes,
``emulation`` realizes, ``tracing`` records socket calls, ``capture`` records packets, ``analysis`` decodes
and attributes them, ``report`` renders, ``labs`` is the catalogue and ``cli`` is the thin shell over it all.
"""

__version__ = "0.1.0"
