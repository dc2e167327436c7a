# One-command setup for a fresh Debian 12 machine (as root).
#   make run    set up, then run the main job (playbooks/container.yml) on this machine
#   make test   set up, then run the whole test suite (what .ci/run calls)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
# Debian's python3 (not a pyenv shim): the venv then works for unprivileged users too.
PYTHON ?= $(shell command -v /usr/bin/python3 || command -v python3)
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

APT_PACKAGES := python3 python3-venv busybox-static iproute2 util-linux procps psmisc kmod \
	iputils-ping bubblewrap time strace podman crun runc docker.io lxc systemd-container chromium
# only for make bench-fleet: its SSH fleet starts its own sshd instances in network namespaces it makes.
# Not part of setup: on a host whose init starts services, installing it starts a host-wide sshd on :22.
APT_PACKAGES_BENCH_FLEET := openssh-server
# for molecule's QEMU test hosts
APT_PACKAGES_MOLECULE := qemu-system-x86 qemu-utils debootstrap openssh-client e2fsprogs \
	xz-utils cpio zstd

.PHONY: help setup apt venv run audit verify namespaces report teardown bench bench-fleet test pytest unit lint molecule molecule-local clean

help:
	@echo "make run       - set up and run playbooks/container.yml on this machine"
	@echo "make test      - set up and run the whole test suite (pytest + ansible-lint + molecule)"
	@echo "make soak      - 100 cycles of container, named namespace and proof runs; the host left as found"
	@echo "make audit     - kernel namespace capability audit (playbooks/audit.yml)"
	@echo "make verify    - isolation proofs for all eight types (playbooks/verify.yml)"
	@echo "make report    - compliance report, JSON/HTML/Markdown under reports/ (playbooks/report.yml)"
	@echo "make teardown  - stop and remove every nsverify container (playbooks/teardown.yml)"
	@echo "make molecule  - kernel matrix (5.10, 6.1, 6.12, UML, userns switch, pure v1, restricted) in throwaway guests"
	@echo "make molecule-local - the same converge/verify on this machine (molecule test -s local)"
	@echo "make bench     - nsverify against lxc-checkconfig, check-config.sh, unshare(1), bwrap"
	@echo "make bench-fleet - the same plus the fleet audit rows (installs openssh-server for its SSH fleet)"
	@echo "make collection - build the nsverify.namespaces collection (.cache/collection/nsverify-namespaces-<version>.tar.gz)"
	@echo "make collection-sanity - ansible-test sanity (3.11, and compile/import on what pyenv has) and units on the built collection"

setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES) $(APT_PACKAGES_MOLECULE); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

# A worktree's .venv may be a symlink to the main checkout's shared venv: its requirements.txt is then
# newer than the link's .installed (checkout time), and re-creating and pip-installing into the shared
# venv from here is not this checkout's business (make bench in a worktree did that).
$(VENV)/.installed: requirements.txt
	@if [ -L $(VENV) ]; then echo "$(VENV) links to a shared venv: left as it is"; exit 0; fi; \
	set -e; $(PYTHON) -m venv $(VENV); \
	$(BIN)/pip install -q --upgrade pip; \
	$(BIN)/pip install -q -r requirements.txt; \
	touch $@

run: setup
	$(BIN)/ansible-playbook playbooks/container.yml

audit: setup
	$(BIN)/ansible-playbook playbooks/audit.yml

verify: setup
	$(BIN)/ansible-playbook playbooks/verify.yml

namespaces: setup
	$(BIN)/ansible-playbook playbooks/namespaces.yml

report: setup
	$(BIN)/ansible-playbook playbooks/report.yml

teardown: setup
	$(BIN)/ansible-playbook playbooks/teardown.yml

bench: setup
	$(BIN)/python bench/run.py

# The fleet audit rows too (several minutes; 200 local aliases and 20 sshd in network namespaces).
bench-fleet: setup
	@dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES_BENCH_FLEET) 2>/dev/null | grep -q 'install ok installed' || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES_BENCH_FLEET); }
	$(BIN)/python bench/run.py --fleet

# The whole suite: unit, integration, testinfra and ansible-lint (pytest), then the kernel matrix.
test: setup
	$(BIN)/pytest tests --junitxml=.cache/pytest-junit.xml
	$(BIN)/molecule test

pytest: setup
	$(BIN)/pytest tests

molecule: setup
	$(BIN)/molecule test

molecule-local: setup
	$(BIN)/molecule test -s local

unit: venv
	$(BIN)/pytest tests/unit

lint: venv
	$(BIN)/ansible-lint --profile production --offline

clean:
	rm -rf $(VENV) .pytest_cache reports

# The collection nsverify.namespaces, staged from this checkout (tools/build_collection.py) and built
# with ansible-galaxy; tests/integration/test_collection.py installs it and runs it by FQCN.
.PHONY: collection collection-sanity
collection: venv
	$(BIN)/python tools/build_collection.py

collection-sanity: venv
	$(BIN)/python tools/collection_sanity.py --units

# Soak (issue 10): 100 cycles of container start/verify/stop, of named namespace create/verify/remove and
# 100 proof runs against a running container, the host snapshot identical before and after (10 in the suite).
.PHONY: soak
soak: setup
	NSV_SOAK_CYCLES=100 $(BIN)/pytest -q tests/integration/test_soak.py
