"""The tests' shared helpers; conftest.py files hold only fixtures and hooks.

- lab: the Lab/Node model, read from the inventory (ansible-inventory), and REPO;
- ansible: the one ansible-playbook runner, and Ansible's view of a variable;
- wait: polling until something holds;
- hosts: reading a host (ip -j, systemd's main PIDs) and the cluster's Ready nodes;
- probe: a probe image and an echo server on the nodes' inner Docker;
- sentinel: "the outside" as a namespace on this machine, the egress guard's counters;
- natrules: which NAT rules of a node could rewrite a pod's source address;
- routing: the network step's checks, shared by the routing tests;
- lesson: the chapter's pods, its Services' endpoints and kube-proxy chains, the guestbook;
- observations: the lesson's step-2 observations checked quickly (for the drills);
- recovery: the drills' recovery clock and its table of times;
- collection: a pytest plugin recording what a run collected (tests/unit/test_collection.py).
"""
