"""`make bench`: what the lab costs, measured on this machine (docs/BENCHMARKS.md).

A script, not a test: it brings the lab up and down, runs the lesson, measures, and
writes a table. Nothing in it passes or fails except the lab itself; the goals are
printed beside the figures.

  stats      medians and spread of repeated runs
  timing     where a playbook run's time went (the netlab_timing callback's JSON lines)
  shell      running commands on this machine, in the lab's nodes, and kubectl
  lab        bring-up, converge, lesson, memory, egress guard counters, build times
  dataplane  iperf3 between the lab's nodes and pods, and through a Service
  scale      3, 4 and 6 nodes (an inventory override), and 10/100/1000 Services
  report     the Markdown page and the printed table
  cli        the command line (tools/bench)
"""
