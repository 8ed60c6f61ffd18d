"""The lab report: the lab's observations turned into a transcript and a one-page HTML report.

playbooks/observe.yml gathers what the chapter looks at (kubectl on the control
plane; ip, docker and every netfilter backend - iptables-save, iptables-legacy-save,
nft list ruleset - on every node) into one JSON file. tools/lab-report, this
package's command, renders that file as

  OUTDIR/transcript.txt  every command as `node2# docker ps` followed by its output:
                         the control plane's kubectl first, then node by node;
  OUTDIR/report.html     one self-contained page (inline CSS and SVG, no external
                         resources, no JavaScript needed to see it): an explanation,
                         a diagram of the lab (the lab network, every node with its lab
                         interface, docker0 and static pod routes, every pod with its
                         pause and app containers, every Service with arrows to its
                         endpoints), tables of nodes, pods and Services, and the
                         transcript.

Usage:
  tools/lab-report OBSERVATIONS.json OUTDIR
  tools/lab-report --screenshot PNG OBSERVATIONS.json OUTDIR

--screenshot also renders the diagram to PNG with headless Chromium (Debian's
`chromium`; the environment variable NETLAB_CHROMIUM names another binary). The
picture in the docs comes from a lab that playbooks/observe.yml has observed:

  tools/lab-report --screenshot docs/lab-report.png .netlab/report/observations.json .netlab/report

The page carries one small script, run once as it loads, that only checks the
layout: it counts the diagram's nodes, pods, routes and Services that stick out of
the SVG's viewBox (data-clipped on the <svg>) and the labels that stick out of
their boxes (data-overflow). Tests read both from Chromium's --dump-dom.

Exit status: 0 done, 1 an output (or the screenshot) could not be written, 2 bad
usage or unreadable input.
Standard library only.

The modules, in the order the data flows:

  model         the lab as dataclasses: nodes, pods, containers, Services, endpoints
  parsing       parsers of the commands' outputs (docker inspect, ip -json, kubectl -o json)
  observations  the model built from observations.json
  transcript    transcript.txt
  diagram       the SVG
  page          report.html (and the diagram's own page, for the screenshot)
  browser       the one headless-Chromium runner (also the tests')
  cli           the command's arguments, messages and exit status
"""
