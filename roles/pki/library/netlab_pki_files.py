#!/usr/bin/python
"""Write a host's certificates and kubeconfigs in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netlab_pki_files
short_description: Write several files at once, each only when its content differs
description:
  - Writes each entry of O(files) - its C(content) to its C(path), with its C(mode) - when the file
    does not hold exactly that content already (atomically, a temporary file beside it renamed);
    otherwise only its mode is set. Files are owned by the user the module runs as (root).
  - Reports changed when a file was written or its mode set; RV(renewed) names the C(renews) of every
    entry whose content changed, for the handlers. In check mode it writes nothing and reports what it would.
options:
  files:
    description: The files.
    type: list
    elements: dict
    required: true
    suboptions:
      path: {description: Where to write it; its directory must exist., type: path, required: true}
      content: {description: What it holds; none or empty - leave the file alone., type: str}
      mode: {description: Its mode (octal string)., type: str, default: "0644"}
      renews:
        description: A name to report in RV(renewed) when the content changed (the certificate it is, or that it uses).
        type: str
author: k8s-netlab
"""

EXAMPLES = r"""
- name: Write the certificates
  netlab_pki_files:
    files:
      - {path: /etc/kubernetes/pki/kube-proxy.crt, content: "{{ pem }}", renews: kube-proxy}
  register: pki_written
"""

RETURN = r"""
written:
  description: The paths written or whose mode was set (in check mode, that would be).
  returned: always
  type: list
  elements: str
renewed:
  description: The C(renews) of the entries whose content changed, once each.
  returned: always
  type: list
  elements: str
  sample: [kube-proxy]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.netlab_pki import Files


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True, "options": {
                "path": {"type": "path", "required": True},
                "content": {"type": "str"},
                "mode": {"type": "str", "default": "0644"},
                "renews": {"type": "str"},
            }},
        },
        supports_check_mode=True,
    )
    files = Files(module.check_mode)
    renewed: list[str] = []
    for entry in module.params["files"]:
        if not entry["content"]:
            continue
        try:
            mode = int(entry["mode"], 8)
        except ValueError:
            module.fail_json(msg=f"{entry['path']}: mode {entry['mode']!r} is not octal")
        if files.content(entry["path"], entry["content"].encode(), mode) and entry["renews"] \
                and entry["renews"] not in renewed:
            renewed.append(entry["renews"])
    module.exit_json(changed=bool(files.written), written=files.written, renewed=renewed)


if __name__ == "__main__":
    main()
