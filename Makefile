# lab: every target that needs the tools depends on `setup`, so a fresh machine needs only `make demo`
# and `make test`. `setup` is idempotent: on a set-up machine it checks and returns in seconds.

SHELL := /bin/bash
# Debian's python3 (built with profile-guided optimization and LTO) analyzes captures 10-15% faster than a
# plain source build of the same version (bench/bench_analyze.py), so it is the default when it is 3.11 or
# newer; any python3 >= 3.11 works: make PYTHON=...
DEBIAN_PYTHON_OK := $(shell /usr/bin/python3 -c 'import sys; print(sys.version_info >= (3, 11))' 2>/dev/null)
PYTHON ?= $(if $(filter True,$(DEBIAN_PYTHON_OK)),/usr/bin/python3,python3)
VENV := .venv
BIN := $(VENV)/bin
LABCMD := $(BIN)/lab
# Debian packages the lab runs for real: capture, tracing, netns/bridges/qdiscs, the real clients
# (curl, nc, dig) that the labs trace, the daemons of the protocol labs (FRR for OSPF/EIGRP, net-snmp,
# telnetd, pppd where the kernel has PPP) and the browser the report tests drive (chromium).
DEB_PACKAGES := tshark tcpdump strace iproute2 nftables ethtool procps curl netcat-openbsd dnsutils \
                iputils-ping wireshark-common python3 python3-venv \
                frr snmpd snmp telnetd telnet ppp chromium fonts-dejavu-core

.PHONY: setup debs labuser demo test lint lab labs analyze clean bench help FORCE

help:
	@echo "make demo           set up, then run the default lab (tcp-echo) end to end and print its ladder"
	@echo "make test           set up, then run the whole test suite (unit + integration, needs root)"
	@echo "make lab LAB=NAME   run one lab of the catalogue (lab labs lists them)"
	@echo "make labs           run every lab and write an index of results"
	@echo "make analyze PCAP=F analyze any capture file"
	@echo "make bench          benchmarks against peers measured in the same run"
	@echo "make clean          remove every leftover lab resource (namespaces, links, captures processes)"

setup: debs labuser $(VENV)/.installed

# The programs of a lab file run as this unprivileged system user (lab/emulation/privilege.py says why a
# dedicated one rather than nobody or a dynamic uid): no home, no login shell.
labuser:
	@getent passwd lab >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then echo "setup: note: user 'lab' is missing; lab runs as root need it (run make setup as root)"; exit 0; fi; \
	  echo "setup: creating the system user lab"; \
	  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin lab; }

# Checked on every run (dpkg-query is fast): a stamp file could claim packages a fresh machine lacks.
debs:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "setup: missing Debian packages:$$missing (run make setup as root)"; exit 1; fi; \
	  echo "setup: installing$$missing"; \
	  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The venv is rebuilt when the interpreter it was made from is not $(PYTHON) any more (asked of the
# interpreter itself: a pyenv shim is a script, its target changes without the shim changing).
$(VENV)/.python: FORCE
	@want="$$($(PYTHON) -c 'import os, sys; print(os.path.realpath(sys.executable))')" && test -n "$$want" || { \
	  echo "setup: $(PYTHON) does not run"; exit 1; }; \
	if [ "$$(cat $@ 2>/dev/null)" != "$$want" ]; then \
	  rm -rf $(VENV); mkdir -p $(VENV); echo "$$want" > $@; fi

$(VENV)/.installed: pyproject.toml $(VENV)/.python
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }
	@$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

demo: setup
	$(LABCMD) run tcp-echo

test: setup lint
	$(BIN)/pytest -q -rfEs

lint: setup
	$(BIN)/ruff check lab tests bench

lab: setup
	@test -n "$(LAB)" || { echo "usage: make lab LAB=name"; exit 2; }
	$(BIN)/lab run $(LAB)

labs: setup
	$(BIN)/lab labs run-all

analyze: setup
	@test -n "$(PCAP)" || { echo "usage: make analyze PCAP=file"; exit 2; }
	$(BIN)/lab analyze "$(PCAP)"

bench: setup
	$(BIN)/python -m bench

clean: setup
	$(BIN)/lab clean
