#!/bin/sh
# The telnet lab's "login program": telnetd runs it on the pseudo-terminal instead of /bin/login
# (telnetd -E), so no account and no password are needed. The terminal echoes what the client types.
printf 'lab telnet session (the shell behind telnetd on h2)\r\n'
printf 'type a line: '
read -r line
printf 'you typed: %s\r\n' "$line"
# telnetd closes the connection as soon as this program exits, without draining what is still in the
# terminal's buffer: give it a moment to send the last line
sleep 0.3
