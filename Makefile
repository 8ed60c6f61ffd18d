# k8s-netlab: `make lab` brings the lab up, `make test` runs the suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
BIN     := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# A lab-wide fact (inventory/lab/group_vars/all/netlab.yml, plain key: value lines).
fact = $(shell awk '$$1 == "$(1):" { print $$2 }' inventory/lab/group_vars/all/netlab.yml)
# The Kubernetes build, the images and the registry's storage are kept across clones
# and runs in NETLAB_CACHE, by default netlab_cache_dir (inventory/lab/group_vars/all/netlab.yml).
PYTHON  ?= python3
# `make test` keeps the lab it tested (set to `always` for a throw-away run).
MOLECULE_DESTROY ?= never
MOLECULE_STATE := $(CURDIR)/.netlab/molecule

.PHONY: help lab test lint unit molecule status clean distclean venv host image artifacts \
        lesson step1 step2 clean-workloads observe walk drills logs reset certs test-announce bench \
        vagrant-validate vagrant-up vagrant-test vagrant-destroy vagrant-host vagrant-image

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

lab: host image artifacts ## Bring the lab up: nodes, Docker, pod routes, a Kubernetes cluster (netlab_kube_version)
	@start=$$SECONDS; \
	ansible-playbook playbooks/lab.yml && \
	tools/lab-status --seconds $$((SECONDS - start))

test: host test-announce image artifacts lint unit molecule ## The whole suite: lint, unit tests, molecule scenarios

# Said before the suite starts: molecule reuses a running lab (MOLECULE_DESTROY=never
# skips its destroy steps, the first one too), or creates one.
test-announce:
	@n=$$(docker ps -q --filter label=$(call fact,netlab_lab_label) | wc -l); \
	if [ "$$n" -gt 0 ]; then \
	  echo "make test: reusing the lab that runs here ($$n machines; make clean first for a fresh one)"; \
	else echo "make test: no lab runs here; molecule creates one"; fi

# Removes and recreates the lab several times; leaves a fresh one.
BENCH_RUNS ?= 3
BENCH_COLD ?= no
bench: host image artifacts ## Measure the lab here (bring-up, converge, memory, iperf3, growth) -> docs/BENCHMARKS.md
	tools/bench --runs $(BENCH_RUNS) $(if $(filter yes,$(BENCH_COLD)),--cold)

drills: venv ## Fault drills against the running lab, each timed; then the lesson's tests again
	pytest tests/drills
	pytest tests/lesson

# NETLAB_INVENTORY=inventory/vagrant for the Vagrant machines (as make vagrant-test).
certs: venv ## Renew the certificates due within pki_renew_before_days (90 d); RENEW=apiserver,node2:kubelet-server forces some
	ansible-playbook $(if $(NETLAB_INVENTORY),-i $(NETLAB_INVENTORY)) playbooks/certs.yml $(if $(RENEW),-e pki_renew=$(RENEW))

reset: venv ## Bring the nodes back to their state before the lab (asks first; RESET_CONFIRM=yes does not); make lab converges again
	ansible-playbook $(if $(NETLAB_INVENTORY),-i $(NETLAB_INVENTORY)) playbooks/reset.yml $(if $(filter yes,$(RESET_CONFIRM)),-e reset_confirm=yes)

logs: venv ## The lab's journals, docker ps -a, routes, iptables and events -> .netlab/logs/<host>/
	ansible-playbook $(if $(NETLAB_INVENTORY),-i $(NETLAB_INVENTORY)) playbooks/logs.yml
	@echo "make logs: in $(CURDIR)/.netlab/logs/<host>/"

# Scripts by their first line: every tracked file whose #! names bash or sh, and
# python (those without a .py name, which ruff finds by itself).
scripts = $(shell git ls-files | while read -r f; do [ -f "$$f" ] && [ ! -L "$$f" ] && \
  head -n 1 "$$f" | grep -qE '^\#!.*[/ ]$(1)$$' && echo "$$f"; done)
SHELL_SCRIPTS = $(call scripts,(ba)?sh)
PYTHON_SCRIPTS = $(filter-out %.py,$(call scripts,python3?))

lint: venv ## ansible-lint (production profile), shellcheck (every shell script), ruff (every Python file)
	ansible-lint --profile production
	shellcheck -x $(SHELL_SCRIPTS)
	ruff check . $(PYTHON_SCRIPTS)

unit: venv vagrant-host ## Tests that need no lab (filters, inventory validation, the Vagrantfile)
	pytest tests/unit tests/test_preflight.py

molecule: venv host image artifacts ## molecule test: create, converge, idempotence, verify
	@# Molecule's state lives in this checkout and starts fresh: its "created" flag
	@# must never outlive the lab (create is lab-up.yml, which is idempotent).
	rm -rf $(MOLECULE_STATE) .netlab/kubeconfig
	MOLECULE_EPHEMERAL_DIRECTORY=$(MOLECULE_STATE)/routing molecule test --scenario-name routing --destroy=$(MOLECULE_DESTROY)
	MOLECULE_EPHEMERAL_DIRECTORY=$(MOLECULE_STATE)/default molecule test --scenario-name default --destroy=$(MOLECULE_DESTROY)

lesson: venv ## The chapter, step by step, then the lab report (after make lab)
	ansible-playbook playbooks/step1-rc.yml
	ansible-playbook playbooks/step2-service.yml
	ansible-playbook playbooks/observe.yml

step1: venv ## Lesson step 1: from an empty cluster, the frontend RC; what the nodes show
	ansible-playbook playbooks/step1-rc.yml

step2: venv ## Lesson step 2: from an empty cluster, frontend + redis behind Services, 3 replicas
	ansible-playbook playbooks/step2-service.yml

clean-workloads: venv ## Empty the cluster again: no RC, no pod, no Service but kubernetes
	ansible-playbook playbooks/clean-workloads.yml

observe: venv ## The chapter's commands on every node -> .netlab/report/{transcript.txt,report.html}
	ansible-playbook playbooks/observe.yml

# TO=pod: straight to a frontend pod on another node by its pod IP (no Service, no DNAT).
# MASQ=yes: with Docker's default model (ip-masq) on node1 for the walk only.
# FROM=node: node1 itself to a frontend pod's hostPort on another node (docker-proxy).
walk: venv ## One request traced hop by hop (after make lesson; TO=pod, MASQ=yes, FROM=node) -> .netlab/report/walk/
	ansible-playbook playbooks/walk.yml $(if $(TO),-e walk_to=$(TO)) $(if $(FROM),-e walk_from=$(FROM)) \
	  $(if $(filter yes,$(MASQ)),-e walk_masquerade=true)
	@echo "make walk: $(CURDIR)/.netlab/report/walk/walk.txt, walk.html, walk.json"

status: ## Show the lab's nodes, addresses, routes and memory; check the egress guard
	@tools/lab-status

clean: venv ## Remove the lab: nodes, their volumes, the lab network, the egress guard
	@if docker version >/dev/null 2>&1; then ansible-playbook playbooks/lab-down.yml; fi
	rm -rf $(MOLECULE_STATE) .netlab/kubeconfig

# Node images are shared by every checkout on this machine: removed only when asked.
REMOVE_IMAGES ?= no
distclean: clean ## clean, the venv and a dockerd started by make (REMOVE_IMAGES=yes: the node images too)
	@if [ "$(REMOVE_IMAGES)" = yes ]; then \
	  docker image ls -q --filter reference='netlab/node*' | sort -u | xargs -r docker rmi -f; \
	else echo "distclean: keeping the node images (other checkouts share them; REMOVE_IMAGES=yes removes them)"; fi
	tools/host-engine stop
	rm -rf $(VENV) .netlab

# Vagrant: the same lab on Vagrant machines. `make vagrant-*` use Vagrant's docker
# provider by default (the node image as machines on this engine, as CI does);
# VAGRANT_PROVIDER=libvirt or virtualbox for real VMs.
VAGRANT_PROVIDER ?= docker
VAGRANT_PROVIDERS := libvirt virtualbox docker
export VAGRANT_CHECKPOINT_DISABLE := 1
export VAGRANT_BOX_UPDATE_CHECK_DISABLE := 1
VAGRANT_TESTS := tests/lesson tests/lab tests/routing/test_routing.py tests/routing/test_egress_guard.py tests/vagrant

vagrant-validate: vagrant-host ## vagrant validate with every provider (libvirt, virtualbox, docker)
	@tools/vagrant-validate $(VAGRANT_PROVIDERS)

vagrant-up: vagrant-host artifacts $(if $(filter docker,$(VAGRANT_PROVIDER)),vagrant-image) ## vagrant up --provider=$(VAGRANT_PROVIDER), provisioned with site.yml
	@start=$$SECONDS; vagrant up --provider=$(VAGRANT_PROVIDER) && \
	echo "vagrant up --provider=$(VAGRANT_PROVIDER): $$((SECONDS - start)) s"

vagrant-test: venv ## The lesson's, the cluster's and the routing tests against the Vagrant machines, over SSH
	NETLAB_INVENTORY=inventory/vagrant pytest $(VAGRANT_TESTS)

vagrant-destroy: vagrant-host ## vagrant destroy -f: the machines, their volumes, the lab network, the egress guard
	vagrant destroy -f

vagrant-host: venv
	@tools/host-prereqs vagrant

vagrant-image: host
	@tools/build-node-image --vagrant

host: venv ## Host prerequisites and a running Docker engine
	@tools/host-engine ensure

image: host ## Build the node image (cached: rebuilt only when its recipe changes)
	@tools/build-node-image

artifacts: host ## Build Kubernetes (netlab_kube_version, from Debian's source package) and the lab's images (cached)
	@tools/build-kubernetes
	@tools/build-images

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@tools/host-prereqs
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@
