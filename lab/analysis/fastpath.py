"""The fast path: Ethernet/IPv4/TCP and Ethernet/IPv4/UDP packets straight from bytes to a JSON line.

Almost every packet of a large capture is one of these two shapes, and building the general record (a
``Pkt``, then nested dicts, then a JSON encoder walking them) costs more than everything else together.
Here the parts that are constant for a flow direction (addresses, endpoint strings, JSON fragments) are
built once per direction and cached (``_View``), the layer list is cached per shape, and each line is
one bytes ``%`` format. The analysis (``FastPath``) hands over an *entry*, a flat tuple of the line's
values, and ``Renderer`` formats it: in the same process for small files, in a second one for large
files, so that the costliest part of a packet runs beside the analysis of the next ones.

Flow state, roles and causes come from the same ``FlowTable`` and ``roles`` functions as the general
path, and the output is byte-for-byte the general path's: the tests run both over the corpus and merged
multi-interface captures and compare (``test_fast_path_is_byte_identical`` in
``tests/analysis/test_analysis_units.py``, ``tests/analysis/test_analysis_interfaces.py``).

``FastPath.packet()`` returns ``None`` (having changed no state) for anything else; the pipeline then
uses the general path. It is used only without a call log and without ``--deep``.
"""

from __future__ import annotations

import struct
from binascii import b2a_hex as _hex
from hashlib import sha1 as _sha1
from typing import Any

from lab.analysis.apps import DataChannels, quic_fixed_bit, tcp_content_app, tcp_port_app, udp_port_app
from lab.analysis.catalogue import layer_dict
from lab.analysis.decode import FIELD_DECODERS, Decoder, tcp_mss, tcp_syn_options, win_text
from lab.analysis.flows import FlowTable, TcpInfo, flag_str
from lab.analysis.jsonline import dumps as _dumps
from lab.analysis.jsonline import dumps64 as _dumps64
from lab.analysis.jsonline import dumps_kept as _dumps_kept
from lab.analysis.roles import TCP_TEXTS, cause_tcp, ep
from lab.records import SCHEMA_VERSION

# Ethertype, then IPv4: vihl, tos, total length, id, flags+offset, ttl, proto
_ETH_IP4 = struct.Struct("!HBBHHHBB").unpack_from
_TCP = struct.Struct("!HHIIBBH").unpack_from
_UDP = struct.Struct("!HH H").unpack_from
_OPT_TS = b"\x01\x01\x08\x0a"

_HEAD = b'{"schema_version":%d,' % SCHEMA_VERSION  # every record says which schema it follows
TCP_LINE = _HEAD + (b'"number":%d,"ts_ns":%d,"t":%b,%b"len":%d,"caplen":%d,"layers":%b,'
            b'"summary":"%b TCP [%b] seq=%d%b win=%b len=%d%b",%b%d,"id":%d,"proto":6,"frag":null},'
            b'%b"flags":"%b","flags_int":%d,"seq_raw":%d,"ack_raw":%d,"seq":%d,"ack":%d,"len":%d,"win":%d,'
            b'"mss":%b,"stream":%d,"from_client":%b},"udp":null,"icmp":null,"arp":null,"app":%b,'
            b'"role":{"code":"%b","text":%b},"analysis":%b,"cause":%b%b%b}')
UDP_LINE = _HEAD + (b'"number":%d,"ts_ns":%d,"t":%b,%b"len":%d,"caplen":%d,"layers":%b,'
            b'"summary":"%b UDP len=%d%b",%b%d,"id":%d,"proto":17,"frag":null},"tcp":null,'
            b'%b"length":%d,"stream":%d,"sha1":"%b"},"icmp":null,"arp":null,"app":%b,'
            b'"role":{"code":"udp","text":"%b"},"analysis":[],"cause":%b}')

_UDP_TEXT = b"UDP datagram%b, %d bytes"
_UDP_REPLY_TEXT = b"UDP datagram%b, %d bytes (response to frame %d)"
_UDP_CAUSE = b'{"source":"inferred","rule":"udp-sendto","text":"sendto() by %b","calls":[],"answers":null}'
_UDP_REPLY_CAUSE = (b'{"source":"inferred","rule":"udp-sendto",'
                    b'"text":"sendto() by %b answering frame %d","calls":[],"answers":%d}')

MAX_VIEWS = 16_384  # flow directions kept prepared; packets of a flow come close together
MAX_RECENT = 50_000
_ME_ADDR, _ME_PORT = "ME-ADDR", 65432  # stands for the sender in shared cause templates
_ME = f"{_ME_ADDR}:{_ME_PORT}"
_ME_B = _ME.encode()
_ANS = 1_717_171_717  # stands for the answered frame in shared cause templates
_ROLE_B = {r: r.encode() for r in ("syn", "syn-ack", "handshake-ack", "data", "ack", "fin", "rst")}


def _port_elsewhere(j: bytes, text: str) -> bool:
    """The sender's port appears in a cause outside its endpoint: a template would share it."""
    port = str(_ME_PORT)
    return (port in text.replace(_ME, "").replace(str(_ANS), "")
            or port.encode() in j.replace(_ME_B, b"").replace(b"%d" % _ANS, b""))


def _cause_template(info: TcpInfo) -> tuple[bytes, bytes, str, str, str] | None:
    """A TCP cause with the sender's endpoint cut out, shared by every flow (None: not splittable)."""
    cause = cause_tcp(_ME_ADDR, _ME_PORT, info)
    j = _dumps(cause)
    text = cause["text"]
    if text.count(_ME) != 1 or j.count(_ME_B) != 1 or _port_elsewhere(j, text):
        return None
    jh, jt = j.split(_ME_B)
    th, tt = text.split(_ME)
    return jh, jt, th, tt, cause["source"]


def _answer_template(info: TcpInfo) -> tuple[bytes, str, str] | None:
    """A TCP cause that answers a frame (a SYN-ACK, the handshake's ACK, the ACK of a FIN), shared by every
    flow: its JSON and its text as %-formats of the sender's endpoint (``me``) and the frame (``ans``),
    and its source (None: not splittable). The rules read only whether a segment answers, so one frame
    number stands for all."""
    ghost = TcpInfo()
    ghost.role, ghost.first_data, ghost.from_client = info.role, info.first_data, info.from_client
    ghost.analysis, ghost.answers = info.analysis, _ANS
    cause = cause_tcp(_ME_ADDR, _ME_PORT, ghost)
    j = _dumps(cause)
    text = cause["text"]
    if _port_elsewhere(j, text):
        return None
    jf = j.replace(b"%", b"%%").replace(_ME_B, b"%(me)b").replace(b"%d" % _ANS, b"%(ans)d")
    tf = text.replace("%", "%%").replace(_ME, "%(me)s").replace(str(_ANS), "%(ans)d")
    return jf, tf, cause["source"]


class _View:
    """Everything constant for one direction of one IPv4 flow, prepared once; what depends only on the
    addresses (``FastPath._hosts``) is shared by every flow between them."""

    __slots__ = ("src", "dst", "sport", "dport", "ip_prefix", "recent_key", "me", "me_b", "mac", "ethip",
                 "port_app", "consts")

    def __init__(self, hosts: tuple[str, str, bytes], data: bytes, proto: int, iface: int) -> None:
        src, dst, self.ip_prefix = hosts
        self.src, self.dst = src, dst
        self.sport, self.dport = sport, dport = struct.unpack_from("!HH", data, 34)
        self.me = ep(src, sport)
        arrow = f"{self.me} -> {ep(dst, dport)}".encode()
        name = b"tcp" if proto == 6 else b"udp"
        l4_prefix = b'"%b":{"sport":%d,"dport":%d,' % (name, sport, dport)
        self.recent_key = (iface, src, dst, proto, sport, dport)
        self.me_b = self.me.encode()
        # what the renderer reads of the view, in one tuple: an entry refers to it (see Renderer)
        self.consts = (arrow, l4_prefix, self.me_b, self.me)
        self.mac = b""  # the MAC addresses ethip was made for
        self.ethip = b""
        self.port_app = udp_port_app(sport, dport) if proto == 17 else tcp_port_app(sport, dport)


class FastPath:
    """Analyze common packets straight from their bytes; see the module docstring."""

    def __init__(self, decoder: Decoder, flows: FlowTable, recent: dict[tuple, int],
                 channels: DataChannels) -> None:
        self.dec = decoder
        self.flows = flows
        self.recent = recent
        self.channels = channels
        # flow directions by interface, then addresses and ports: TCP and UDP apart
        self._views: dict[int, dict[bytes, _View]] = {}
        self._uviews: dict[int, dict[bytes, _View]] = {}
        self._eth: dict[bytes, bytes] = {}
        # by address pair (data[26:34]): the address strings and the "ip" JSON head, shared by the views
        self._hosts: dict[bytes, tuple[str, str, bytes]] = {}
        # by (MAC addresses, "ip" JSON head): the "eth" and "ip" JSON, shared by the views
        self._ethips: dict[tuple[bytes, bytes], bytes] = {}
        self._layers: dict[tuple, tuple[bytes, tuple[str, ...], str]] = {}
        # role key -> (cause JSON head, tail, text head, tail, source): the sender's endpoint goes between
        self._causes: dict[tuple, tuple[bytes, bytes, str, str, str] | None] = {}
        # ... of a segment that answers a frame -> (cause JSON format, text format, source)
        self._answer_causes: dict[tuple, tuple[bytes, str, str] | None] = {}

    def _view(self, data: bytes, proto: int, iface: int) -> _View:
        by_iface = self._views if proto == 6 else self._uviews
        views = by_iface.get(iface)
        if views is None:
            views = by_iface[iface] = {}
        key = data[26:38]
        v = views.get(key)
        if v is None:
            if len(views) > MAX_VIEWS:
                views.clear()
            v = views[key] = _View(self._hosts.get(data[26:34]) or self._host_pair(data), data, proto, iface)
        return v

    def _host_pair(self, data: bytes) -> tuple[str, str, bytes]:
        hosts = self._hosts
        if len(hosts) > 50_000:
            hosts.clear()
        src, dst = self.dec._ip4s(data[26:30]), self.dec._ip4s(data[30:34])
        got = hosts[data[26:34]] = (
            src, dst, b'"ip":{"version":4,"src":"%b","dst":"%b","ttl":' % (src.encode(), dst.encode()))
        return got

    def _eth_json(self, data: bytes) -> bytes:
        k = data[:12]
        e = self._eth.get(k)
        if e is None:
            if len(self._eth) > 50_000:
                self._eth.clear()
            mac = self.dec._macs
            e = self._eth[k] = _dumps_kept({"src": mac(data[6:12]), "dst": mac(data[0:6])})
        return e

    def _layer_json(self, key: tuple) -> tuple[bytes, tuple[str, ...], str]:
        got = self._layers.get(key)
        if got is None:
            proto, l4len, plen, app = key
            lys = [("Ethernet", 0, 14), ("IPv4", 14, 20), ("TCP" if proto == 6 else "UDP", 34, l4len)]
            if plen > 0:
                lys.append((app or "Data", 34 + l4len, plen))
            if len(self._layers) > 4096:
                self._layers.clear()
            names = tuple(ly[0] for ly in lys)
            js = _dumps_kept([layer_dict(*ly) for ly in lys])
            got = self._layers[key] = (js, names, "/".join(names))
        return got

    def _ethip(self, v: _View, data: bytes) -> bytes:
        """``"eth":{...},"ip":{...,"ttl":`` for this view and these MAC addresses (kept by the view, and
        shared by every view of the same addresses)."""
        mac = data[:12]
        if v.mac != mac:
            v.mac = mac
            key = (mac, v.ip_prefix)
            got = self._ethips.get(key)
            if got is None:
                if len(self._ethips) > 50_000:
                    self._ethips.clear()
                got = self._ethips[key] = b'"eth":%b,%b' % (self._eth.get(mac) or self._eth_json(data),
                                                            v.ip_prefix)
            v.ethip = got
        return v.ethip

    def packet(self, item: Any, n: int) -> tuple | None:
        """The packet's entry, or None: not a fast packet.

        The entry is a flat tuple of what the packet's JSON line, comment and summary counts need;
        ``Renderer.render`` makes them of it."""
        iface, ts, _caplen, wirelen, data, _hdr, _opts, comments = item
        n_data = len(data)
        if iface.linktype != 1 or n_data < 42 or comments or ts is None:
            return None
        etype, vihl, _tos, tot, ipid, fragw, ttl, proto = _ETH_IP4(data, 12)
        if etype != 0x0800 or vihl != 0x45 or fragw & 0x3FFF or tot < 20:
            return None
        end = 14 + tot if 14 + tot < n_data else n_data
        if proto == 6:
            wire = wirelen if wirelen > n_data else n_data
            return self._tcp(iface, data, n, ts, ipid, ttl, end, 14 + tot if 14 + tot < wire else wire)
        if proto == 17:
            return self._udp(iface, data, n, ts, ipid, ttl, end)
        return None

    def _tcp(self, iface: Any, data: bytes, n: int, ts: int, ipid: int, ttl: int, end: int,
             claimed: int) -> tuple | None:
        if end < 54:
            return None
        sport, dport, seq, ack, offb, fl, win = _TCP(data, 34)
        hl = (offb >> 4) * 4
        if hl < 20 or 34 + hl > end:
            return None
        fl |= (offb & 0x0F) << 8
        mss = b"null"
        wscale = None
        # SYN options (MSS and window scale in one walk), or anything but the usual timestamps (MSS)
        if hl > 20 and (data[54:58] != _OPT_TS or hl != 32):
            if fl & 2:
                m, wscale = tcp_syn_options(data, 54, 34 + hl)
            else:
                m = tcp_mss(data, 54, 34 + hl)
            if m is not None:
                mss = b"%d" % m
        channels = self.channels
        if channels.ftp or channels.ftp_data_seen:
            return None
        flows = self.flows
        plen = end - 34 - hl
        ifx = iface.index
        views = self._views.get(ifx)
        v = views.get(data[26:38]) if views is not None else None
        if v is None:
            v = self._view(data, 6, ifx)
        app = None
        if plen > 0:
            app = tcp_content_app(data, 34 + hl, end) or v.port_app
            if app == "FTP" or app in FIELD_DECODERS:  # FTP's data channels; fields the record carries
                return None
        tlen = claimed - 34 - hl
        if tlen < 0:
            tlen = 0
        info = flows.tcp(v.src, sport, v.dst, dport, fl, seq, ack, win, tlen, n, ts, ifx, wscale)
        st = info.st
        if app is not None:
            if st.app is None:
                st.app = app
        elif plen > 0:
            app = st.app  # a later segment of a recognized stream
        recent = self.recent
        recent[v.recent_key] = n
        if len(recent) > MAX_RECENT:
            recent.clear()
        lkey = (6, hl, plen, app)
        layer_t = self._layers.get(lkey) or self._layer_json(lkey)
        an = info.analysis
        answers = info.answers
        role = info.role
        ckey = (role, info.first_data, info.from_client, tuple(an) if an else None)
        around_sender = answers is None
        if around_sender:
            cause_t = self._causes.get(ckey, False)
            if cause_t is False:
                cause_t = self._causes[ckey] = _cause_template(info)
        else:
            atmpl = self._answer_causes.get(ckey, False)
            if atmpl is False:
                atmpl = self._answer_causes[ckey] = _answer_template(info)
            cause_t = None
            if atmpl is not None:
                jf, tf, source = atmpl
                cause_t = (jf % {b"me": v.me_b, b"ans": answers}, b"", tf % {"me": v.me, "ans": answers}, "",
                           source)
        if cause_t is None:  # no template: nothing to share
            cause = cause_tcp(v.src, sport, info)
            cause_t = (_dumps(cause), b"", cause["text"], "", cause["source"])
            around_sender = False
        ethip = v.ethip if v.mac == data[:12] else self._ethip(v, data)
        return (6, layer_t, v.consts, fl, info.rel_seq, info.rel_ack, win, info.wshift, tlen, app, ethip, ttl,
                ipid, seq, ack, mss, info.stream, info.from_client, role, TCP_TEXTS[role](info), an or None,
                cause_t, around_sender)

    def _udp(self, iface: Any, data: bytes, n: int, ts: int, ipid: int, ttl: int, end: int) -> tuple | None:
        if end < 42:
            return None
        if self.channels.tftp:
            return None
        flows = self.flows
        sport, dport, ulen = _UDP(data, 34)
        if ulen < 8 or 34 + ulen > end:  # cut by the snap length: the general path leaves its hash out
            return None
        pend = 34 + ulen if 34 + ulen < end else end
        ifx = iface.index
        views = self._uviews.get(ifx)
        v = views.get(data[26:38]) if views is not None else None
        if v is None:
            v = self._view(data, 17, ifx)
        app = None
        if pend > 42:
            app = v.port_app  # as apps.udp_app, with the port lookup done once per view
            if app is not None:
                if app == "TFTP" or app in FIELD_DECODERS:
                    return None
                if app == "QUIC" and not quic_fixed_bit(data[42]):
                    app = None
        conv, _d, answers = flows.udp(v.src, sport, v.dst, dport, n, ts, ifx)
        if app is not None:
            if conv.app is None:
                conv.app = app
        elif pend > 42:
            app = conv.app  # a later datagram of a recognized conversation
        recent = self.recent
        recent[v.recent_key] = n
        if len(recent) > MAX_RECENT:
            recent.clear()
        lkey = (17, 8, pend - 42, app)
        ethip = v.ethip if v.mac == data[:12] else self._ethip(v, data)
        return (17, self._layers.get(lkey) or self._layer_json(lkey), v.consts, app, ethip, ttl, ipid, ulen,
                conv.id, pend, answers)


class Renderer:
    """Make the JSON line, the comment and the summary kind of a ``FastPath`` entry.

    Apart from the analysis because formatting is the costliest part of a packet: a large capture is
    analyzed by one process and its entries are rendered by another (``lab.analysis.renderproc``).

    An entry is a tuple (a tuple is the cheapest thing to build and to send); ``FastPath._tcp`` and
    ``_udp`` build it and ``tcp``/``udp`` here unpack it, in this order:

    TCP: 6, layers, view, flags, rel seq, rel ack, win, its scale (shift; None: unknown), TCP length, app,
         eth+ip JSON head, ttl, IP id, seq, ack, mss JSON, stream, from client, role code, role text,
         analysis flags or None, cause, whether the cause goes around the sender
    UDP: 17, layers, view, app, eth+ip JSON head, ttl, IP id, UDP length, conversation, payload end, frame
         answered or None

    where *layers* is (layers JSON, layer names, their "/" string), *view* (arrow, l4 JSON head, sender as
    bytes, as str) and *cause* (JSON head, tail, text head, tail, source): a template shared by every
    segment of its kind, the sender going between head and tail -- or, when the cause does not go around
    the sender, a cause made for this segment with empty tails. Those three are objects the analysis keeps
    in its caches: the pipe to a render process carries each once per chunk, and a reference after.

    What the record itself says (number, time, lengths, interface) is not in the entry: the render
    process reads the capture too."""

    def __init__(self, iface_nodes: dict[str, str] | None = None) -> None:
        self.iface_nodes = iface_nodes  # pcapng interface name -> lab node
        self._iface: dict[int, bytes] = {}
        self._flags: dict[int, bytes] = {}
        self._wins: dict[tuple[int, int | None], bytes] = {}  # "64512 (63<<10)": few distinct per capture
        self._texts: dict[str, bytes] = {}  # role texts as JSON: a capture repeats a few hundred

    def render(self, entry: tuple, item: Any, n: int, t0: int | None) -> tuple[bytes, str, tuple]:
        """(JSON line, comment, (layer names, role code, cause source, app)) of ``entry``, made by
        ``FastPath.packet`` for the record ``item``, packet number ``n`` of a file whose first timestamp
        is ``t0`` (what the record itself says is not in the entry: less to send to a render process).

        A loop over many entries calls ``tcp`` or ``udp`` itself (``entry[0]`` is 6 or 17): one call less
        per packet."""
        if entry[0] == 6:
            return self.tcp(entry, item, n, t0)
        return self.udp(entry, item, n, t0)

    def _iface_json(self, iface: Any) -> bytes:
        got = self._iface.get(iface.index)
        if got is None:
            node = self.iface_nodes.get(iface.name or "") if self.iface_nodes else None
            got = b'"interface":%b,"node":%b,' % (_dumps(iface.label), _dumps(node))
            self._iface[iface.index] = got
        return got

    def _win(self, win: int, shift: int | None) -> bytes:
        text = self._wins[(win, shift)] = win_text(win, shift).encode()
        return text

    def _text(self, text: str) -> bytes:
        texts = self._texts
        if len(texts) > 4096:  # "duplicate ACK (#n)", "window update (win=n)": not every text repeats
            texts.clear()
        got = texts[text] = _dumps64(text)
        return got

    def tcp(self, entry: tuple, item: Any, n: int, t0: int | None) -> tuple[bytes, str, tuple]:
        """``render`` of a TCP entry."""
        (_proto, layer_t, view_t, fl, rel_seq, rel_ack, win, wshift, tlen, app, ethip, ttl, ipid, seq, ack,
         mss, stream, from_client, role, text, an, cause_t, around_sender) = entry
        layers, names, names_s = layer_t
        arrow, l4_prefix, me_b, me = view_t
        cause_jh, cause_jt, cause_head, cause_tail, source = cause_t
        if not around_sender:
            me_b, me = b"", ""
        flags = self._flags.get(fl)
        if flags is None:
            flags = self._flags[fl] = flag_str(fl).encode()
        iface = item.iface
        ts = item.ts_ns
        appb = app.encode() if app else b""
        line = TCP_LINE % (
            n, ts, _dumps64((ts - t0) / 1e9) if t0 is not None else b"null",
            self._iface.get(iface.index) or self._iface_json(iface), item.wirelen, item.caplen, layers,
            arrow, flags, rel_seq, b" ack=%d" % rel_ack if fl & 16 else b"",
            b"%d" % win if wshift == 0 else (self._wins.get((win, wshift)) or self._win(win, wshift)), tlen,
            b" " + appb if app else b"", ethip, ttl, ipid,
            l4_prefix, flags, fl, seq, ack, rel_seq, rel_ack, tlen, win, mss, stream,
            b"true" if from_client else b"false", b'"%b"' % appb if app else b"null",
            _ROLE_B[role], self._texts.get(text) or self._text(text), _dumps64(an) if an else b"[]",
            cause_jh, me_b, cause_jt)
        return line, f"{text} | {cause_head}{me}{cause_tail} | {names_s}", (names, role, source, app)

    def udp(self, entry: tuple, item: Any, n: int, t0: int | None) -> tuple[bytes, str, tuple]:
        """``render`` of a UDP entry."""
        _proto, layer_t, view_t, app, ethip, ttl, ipid, ulen, conv, pend, answers = entry
        layers, names, names_s = layer_t
        arrow, l4_prefix, me_b, me = view_t
        ln = ulen - 8
        appb = b" " + app.encode() if app else b""
        if answers is None:
            text = _UDP_TEXT % (appb, ln)
            cause_j = _UDP_CAUSE % me_b
            comment = f"{text.decode()} | sendto() by {me} | {names_s}"
        else:
            text = _UDP_REPLY_TEXT % (appb, ln, answers)
            cause_j = _UDP_REPLY_CAUSE % (me_b, answers, answers)
            comment = f"{text.decode()} | sendto() by {me} answering frame {answers} | {names_s}"
        iface = item.iface
        ts = item.ts_ns
        line = UDP_LINE % (
            n, ts, _dumps64((ts - t0) / 1e9) if t0 is not None else b"null",
            self._iface.get(iface.index) or self._iface_json(iface), item.wirelen, item.caplen, layers, arrow,
            ln, appb,
            ethip, ttl, ipid, l4_prefix, ulen, conv, _hex(_sha1(item.data[42:pend]).digest()[:8]),
            b'"%b"' % appb[1:] if app else b"null", text, cause_j)
        return line, comment, (names, "udp", "inferred", app)
