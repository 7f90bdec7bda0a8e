"""FTP client: Python's ftplib fetches the same file twice, in passive mode and in active mode.

Each RETR opens a new data connection and the file arrives on it; the control connection meanwhile
carries the commands and the replies (150 opening, 226 transfer complete). set_pasv(True): the client
sends PASV and connects to the port of the 227 reply. set_pasv(False): the client listens on an
ephemeral port, announces it with PORT, and the server connects to it — the data connection's SYN then
comes from the *server*.
"""

import argparse
import ftplib


def fetch(ftp: ftplib.FTP, name: str) -> bytes:
    chunks: list[bytes] = []
    ftp.retrbinary(f"RETR {name}", chunks.append)  # TYPE I, PASV or PORT, RETR: one data connection
    return b"".join(chunks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("--port", type=int, default=21)
    ap.add_argument("--user", default="student")
    ap.add_argument("--password", default="lab-password")
    args = ap.parse_args()

    ftp = ftplib.FTP()
    print(ftp.connect(args.host, args.port, timeout=10), flush=True)  # the server's 220 greeting
    print(ftp.login(args.user, args.password), flush=True)  # USER, PASS -> 230
    ftp.set_pasv(True)
    passive = fetch(ftp, "lab.txt")
    print(f"passive mode: {len(passive)} bytes", flush=True)
    ftp.set_pasv(False)
    active = fetch(ftp, "lab.txt")
    print(f"active mode: {len(active)} bytes", flush=True)
    print(ftp.quit(), flush=True)  # QUIT -> 221, then the control connection closes
    return 0 if passive == active and passive else 1


if __name__ == "__main__":
    raise SystemExit(main())
