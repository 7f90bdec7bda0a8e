"""Send one mail with the standard library's smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

import argparse
import smtplib
from email.message import EmailMessage


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("server")
    ap.add_argument("--port", type=int, default=25)
    args = ap.parse_args()

    msg = EmailMessage()
    msg["From"] = "student@h1.lab"
    msg["To"] = "teacher@h2.lab"
    msg["Subject"] = "my capture"
    msg.set_content("Every line of this mail is a TCP payload you can find in the capture.\n")
    with smtplib.SMTP(args.server, args.port, local_hostname="h1", timeout=10) as smtp:
        refused = smtp.send_message(msg)  # EHLO, MAIL FROM, RCPT TO, DATA; QUIT when the block ends
    print("sent" if not refused else f"refused: {refused}")
    return 0 if not refused else 1


if __name__ == "__main__":
    raise SystemExit(main())
