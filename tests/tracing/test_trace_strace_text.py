"""strace text syntax: joining interrupted calls, splitting arguments, decoding strings and addresses."""

from __future__ import annotations

from lab.tracing.strace_text import (
    Exit,
    Syscall,
    decode_c_string,
    events,
    parse_decoration,
    parse_fd,
    parse_sockaddr,
    split_args,
    ts_ns,
)

INTERLEAVED = """\
11594 1795640043.324130 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP <unfinished ...>
11595 1795640043.324150 accept4(3<TCP:[127.0.0.1:48615]>,  <unfinished ...>
11594 1795640043.324192 <... socket resumed>) = 4<TCP:[30578]> <0.000050>
11595 1795640043.325055 <... accept4 resumed>{sa_family=AF_INET, sin_port=htons(48467), \
sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 5<TCP:[127.0.0.1:48615->127.0.0.1:48467]> <0.000877>
11595 1795640043.326278 recvfrom(5<TCP:[127.0.0.1:48615->127.0.0.1:48467]>, "a, \\"b\\")\\n\\xff", 65536, 0, \
NULL, NULL) = 8 <0.000008>
11594 1795640043.332678 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=11596} ---
6814  1795639799.952574 shutdown(3<TCP:[127.0.0.1:43660->127.0.0.1:18090]>, SHUT_RD) = -1 ENOTCONN \
(Transport endpoint is not connected) <0.000029>
6814  1795639799.951863 fcntl(3<TCP:[127.0.0.1:43660->127.0.0.1:18090]>, F_GETFL) = 0x802 \
(flags O_RDWR|O_NONBLOCK) <0.000051>
11594 1795640043.340216 +++ exited with 0 +++
11244 1795640043.171312 +++ killed by SIGTERM +++
"""


def test_timestamps_are_exact_integers() -> None:
    assert ts_ns("1795640043.324130") == 1_795_640_043_324_130_000
    assert ts_ns("1.5") == 1_500_000_000


def test_interrupted_calls_are_joined_per_thread_and_ordered_by_completion() -> None:
    evs = list(events(INTERLEAVED.splitlines()))
    calls = [e for e in evs if isinstance(e, Syscall)]
    assert [c.name for c in calls] == ["socket", "accept4", "recvfrom", "shutdown", "fcntl"]
    sock, acc, rec, shut, fcntl = calls
    assert sock.tid == 11594 and sock.ret == 4 and sock.ret_dec == "TCP:[30578]"
    assert sock.t_start_ns == ts_ns("1795640043.324130") and sock.t_end_ns == sock.t_start_ns + 50_000
    assert acc.tid == 11595 and acc.ret == 5 and acc.args[0] == "3<TCP:[127.0.0.1:48615]>"
    assert acc.args[1].startswith("{sa_family=AF_INET") and acc.args[3] == "SOCK_CLOEXEC"
    assert acc.t_end_ns - acc.t_start_ns == 877_000
    assert rec.args[2] == "65536" and rec.ret == 8
    assert shut.ret == -1 and shut.error == "ENOTCONN"
    assert fcntl.ret == 0x802 and fcntl.error is None
    exits = [e for e in evs if isinstance(e, Exit)]
    assert [(e.tid, e.status, e.signal) for e in exits] == [(11594, 0, None), (11244, None, "SIGTERM")]


def test_split_args_respects_strings_brackets_and_decorations() -> None:
    text = '5<TCP:[1.2.3.4:5->6.7.8.9:10]>, "x, y", [{iov_base="a,b", iov_len=3}], [128 => 16], 0'
    assert split_args(text) == ["5<TCP:[1.2.3.4:5->6.7.8.9:10]>", '"x, y"', '[{iov_base="a,b", iov_len=3}]',
                                "[128 => 16]", "0"]
    assert split_args("0</dev/null<char 1:3>>, F_GETFD") == ["0</dev/null<char 1:3>>", "F_GETFD"]


def test_c_strings_decode_escapes() -> None:
    assert decode_c_string(r"a\"b\\c\n\t\x00\xff\101") == b'a"b\\c\n\t\x00\xffA'


def test_fd_decorations() -> None:
    text = "TCP:[127.0.0.1:40312->127.0.0.1:5000]"
    assert parse_fd(f"3<{text}>") == (3, text)
    assert parse_fd("3") == (3, None)
    assert parse_fd("NULL") == (None, None)
    dec = parse_decoration("TCP:[127.0.0.1:40312->127.0.0.1:5000]")
    assert (dec.family, dec.type, dec.local, dec.peer) == ("AF_INET", "SOCK_STREAM", ["127.0.0.1", 40312],
                                                           ["127.0.0.1", 5000])
    v6 = parse_decoration("TCPv6:[[::1]:8000->[::1]:41000]")
    assert (v6.family, v6.local, v6.peer) == ("AF_INET6", ["::1", 8000], ["::1", 41000])
    udp = parse_decoration("UDP:[0.0.0.0:58037]")
    assert (udp.type, udp.local, udp.peer) == ("SOCK_DGRAM", ["0.0.0.0", 58037], None)
    assert parse_decoration("TCP:[12246]").local is None
    assert parse_decoration("UNIX-STREAM:[12196->12197]").family == "AF_UNIX"
    assert parse_decoration("/tmp/rec/hello.txt") is None
    assert parse_decoration("pipe:[13339]") is None


def test_sockaddrs() -> None:
    v4 = '{sa_family=AF_INET, sin_port=htons(18090), sin_addr=inet_addr("127.0.0.1")}'
    assert parse_sockaddr(v4) == ("AF_INET", ["127.0.0.1", 18090])
    v6 = ('{sa_family=AF_INET6, sin6_port=htons(5000), sin6_flowinfo=htonl(0), '
          'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}')
    assert parse_sockaddr(v6) == ("AF_INET6", ["::1", 5000])
    assert parse_sockaddr('{sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}') == ("AF_UNIX",
                                                                                    "/var/run/nscd/socket")
    assert parse_sockaddr("NULL") == (None, None)
