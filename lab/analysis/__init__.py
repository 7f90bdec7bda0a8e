"""Analysis: capture files in, explained packets out.

Division of labour, in the order a packet meets them:

* ``reader``     pcap/pcapng (gzip or not) -> records, streaming, with partial-read messages
* ``decode``     record bytes -> one flat ``Pkt`` (layers with offsets, addresses, ports, flags, ...)
* ``catalogue``  protocol name -> TCP/IP layer, OSI layer, tshark name (a table, not code)
* ``flows``      TCP streams and UDP conversations: handshakes, teardowns, analysis flags, roles
* ``roles``      role texts and inferred causes (the fallback when no call log exists)
* ``attribution``  exact causes from a call log (a lab run's, or ``lab analyze --calls``)
* ``fastpath``   the common Ethernet/IPv4/TCP|UDP packet straight to its JSON line (same bytes)
* ``writer``     annotated.pcapng: the input's blocks, one comment more per packet
* ``deep``       ``--deep``: tshark's own dissection attached per packet
* ``pipeline``   ``analyze_capture()``: the one entry point used by ``lab analyze`` and ``lab run``
"""
