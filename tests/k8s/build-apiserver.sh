#!/usr/bin/env bash
# Builds (once) a real kube-apiserver v1.20.2 and fetches a matching kubectl, for the
# Kubernetes integration tests. Only the Debian package mirror is used:
#
#   * kube-apiserver is built from Debian's `kubernetes` SOURCE package (its orig tarball is
#     the full upstream tree with vendor/) with Debian's golang-go 1.19 and GOPROXY=off. The
#     vendored github.com/modern-go/reflect2 v1.0.1 is replaced by Debian's 1.0.2: with Go >=
#     1.18 the old one panics ("nil pointer in reflect2.Type2") on every request with a body.
#   * kubectl is taken from `apt-get download kubernetes-client` + `dpkg -x` (never installed
#     system-wide: a Google kubectl may own /usr/bin/kubectl).
#
# The source is fetched through a PRIVATE apt configuration in a temp dir whose source lines
# are derived from the machine's own Debian sources; /etc/apt is never modified.
#
# Both binaries are cached in ${XDG_CACHE_HOME:-$HOME/.cache}/l5d-k8s/kube-apiserver-1.20.2/.
# Idempotent: when both are cached it only checks the runtime packages and prints the paths.
# First run: ~5-6 min on 2 cores and ~1.5 GB of scratch space (deleted afterwards).
#
# Needs root only to install missing Debian packages.
# Env knobs: L5D_K8S_CACHE (cache dir), L5D_K8S_SCRATCH (parent of the scratch dir).
set -Eeuo pipefail

K8S_VERSION=1.20.2
CACHE_DIR=${L5D_K8S_CACHE:-${XDG_CACHE_HOME:-${HOME:-$(cd ~ && pwd)}/.cache}/l5d-k8s/kube-apiserver-$K8S_VERSION}
APISERVER=$CACHE_DIR/kube-apiserver
KUBECTL=$CACHE_DIR/kubectl
LOG=$CACHE_DIR/build.log
RUNTIME_PKGS=(etcd-server openssl ca-certificates)
BUILD_PKGS=(golang-go make rsync golang-github-modern-go-reflect2-dev
            dpkg-dev xz-utils tar findutils coreutils util-linux)
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
SCRATCH=""
STEP="starting"

log() { echo "build-apiserver: $*" >&2; }

die() {
  log "FAILED: $*"
  exit 1
}

on_error() {
  local rc=$?
  [ "$BASHPID" = "$$" ] || exit "$rc"   # report once, from the main shell
  log "FAILED (exit $rc) while: $STEP"
  if [ -s "$LOG" ]; then
    log "last lines of $LOG:"
    tail -n 40 "$LOG" >&2 || true
  fi
  exit "$rc"
}

cleanup() {
  if [ -n "$SCRATCH" ] && [ -d "$SCRATCH" ]; then
    chmod -R u+w "$SCRATCH" 2>/dev/null || true   # the Go module cache is read-only
    rm -rf "$SCRATCH"
  fi
}

trap on_error ERR
trap cleanup EXIT

# --- Debian packages -------------------------------------------------------------------

missing_pkgs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
      || echo "$p"
  done
}

lists_present() {
  compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

ensure_pkgs() {
  local need
  mapfile -t need < <(missing_pkgs "$@")
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${need[*]} (run as root or install them)"
  STEP="installing ${need[*]}"
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! lists_present || ! apt-get install -y -qq --no-install-recommends "${need[@]}" >>"$LOG" 2>&1; then
    apt-get update -qq >>"$LOG" 2>&1
    apt-get install -y -qq --no-install-recommends "${need[@]}" >>"$LOG" 2>&1
  fi
}

# --- private apt configuration ---------------------------------------------------------

os_codename() {
  # shellcheck disable=SC1091
  (. /etc/os-release && echo "${VERSION_CODENAME:-}")
}

# Prints the machine's own Debian apt sources (deb822 stanzas and one-line entries) whose
# suite belongs to this release, as deb822 stanzas with "Types: deb deb-src".
system_debian_sources() {
  local codename=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v cn="$codename" '
      /^[ \t]*deb[ \t]/ {
        opts = ""; i = 2
        if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
        uri = $i; suite = $(i + 1); comps = ""
        for (j = i + 2; j <= NF; j++) comps = comps " " $j
        if (suite !~ ("^" cn "($|-)")) next
        signed = ""
        if (match(opts, /signed-by=[^] ]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
        print "Types: deb deb-src"; print "URIs: " uri; print "Suites: " suite
        print "Components:" comps
        if (signed != "") print "Signed-By: " signed
        print ""
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v cn="$codename" -v RS="" -v FS="\n" '
      {
        keep = 0; enabled = 1; out = ""
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          if (line ~ /^Types:/) { line = "Types: deb deb-src" }
          if (line ~ /^Enabled:[ \t]*(no|false)/) enabled = 0
          if (line ~ /^Suites:/) {
            n = split(substr(line, 8), s, /[ \t]+/); kept = ""
            for (k = 1; k <= n; k++) if (s[k] ~ ("^" cn "($|-)")) kept = kept " " s[k]
            if (kept == "") continue
            keep = 1; line = "Suites:" kept
          }
          out = out line "\n"
        }
        if (keep && enabled) printf "%s\n", out
      }' "$f"
  done
}

# Sets up $SCRATCH/apt (sources, lists, cache) and fills APT_OPTS.
private_apt() {
  local root=$SCRATCH/apt codename
  codename=$(os_codename)
  [ -n "$codename" ] || die "cannot read VERSION_CODENAME from /etc/os-release"
  mkdir -p "$root/parts" "$root/lists/partial" "$root/cache/archives/partial"
  : >"$root/sources.list"
  system_debian_sources "$codename" >"$root/parts/debian.sources"
  grep -q '^URIs:' "$root/parts/debian.sources" \
    || die "no apt source for Debian '$codename' found in /etc/apt"
  APT_OPTS=(-o "Dir::Etc::SourceList=$root/sources.list"
            -o "Dir::Etc::SourceParts=$root/parts"
            -o "Dir::State::Lists=$root/lists"
            -o "Dir::Cache=$root/cache"
            -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
            -o "APT::Sandbox::User=$(id -un)"
            -o "Debug::NoLocking=1")
  STEP="apt-get update (private config, Debian $codename)"
  apt-get "${APT_OPTS[@]}" update -qq >>"$LOG" 2>&1
}

# Prints the newest version of source/binary package $2 ("showsrc"/"show") whose upstream
# part is (or "really" is) $K8S_VERSION.
pick_version() {
  local cmd=$1 pkg=$2
  apt-cache "${APT_OPTS[@]}" "$cmd" "$pkg" 2>/dev/null \
    | sed -n 's/^Version: //p' \
    | grep -E "(^|really)${K8S_VERSION//./\\.}([-+~]|$)" \
    | sort -V | tail -n 1
}

# --- build steps -----------------------------------------------------------------------

fetch_source() {
  local ver
  ver=$(pick_version showsrc kubernetes)
  [ -n "$ver" ] || die "no 'kubernetes' source package for $K8S_VERSION in the Debian mirror"
  STEP="apt-get source kubernetes=$ver"
  log "fetching source package kubernetes=$ver"
  (cd "$SCRATCH" && apt-get "${APT_OPTS[@]}" source --download-only "kubernetes=$ver" >>"$LOG" 2>&1)
  local orig
  orig=$(compgen -G "$SCRATCH/kubernetes_*.orig.tar.*" | head -n 1) \
    || die "the source package has no orig tarball"
  STEP="unpacking $orig"
  mkdir -p "$SCRATCH/src"
  tar -xf "$orig" -C "$SCRATCH/src" --strip-components=1
  [ -d "$SCRATCH/src/cmd/kube-apiserver" ] && [ -d "$SCRATCH/src/vendor" ] \
    || die "$orig is not a full upstream tree (no cmd/kube-apiserver or vendor/)"
}

patch_reflect2() {
  local dst=$SCRATCH/src/vendor/github.com/modern-go/reflect2
  STEP="swapping vendored reflect2 for $REFLECT2_SRC"
  [ -d "$REFLECT2_SRC" ] || die "$REFLECT2_SRC missing (golang-github-modern-go-reflect2-dev)"
  [ -d "$dst" ] || die "no vendored reflect2 at $dst"
  find "$dst" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
  find "$REFLECT2_SRC" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
    -exec cp {} "$dst/" \;
}

write_version_file() {
  # No .git in the tarball: tell hack/lib/version.sh what it is building.
  cat >"$SCRATCH/version.defs" <<EOF
KUBE_GIT_COMMIT=''
KUBE_GIT_TREE_STATE='archive'
KUBE_GIT_VERSION='v$K8S_VERSION'
KUBE_GIT_MAJOR='${K8S_VERSION%%.*}'
KUBE_GIT_MINOR='$(echo "$K8S_VERSION" | cut -d. -f2)'
EOF
}

build_apiserver() {
  write_version_file
  STEP="make WHAT=cmd/kube-apiserver (see $LOG)"
  log "building kube-apiserver $K8S_VERSION with $(go version | cut -d' ' -f3) (takes ~5-6 min)"
  (
    cd "$SCRATCH/src"
    export GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0 GO111MODULE=on \
      GOPATH=$SCRATCH/gopath GOCACHE=$SCRATCH/gocache TMPDIR=$SCRATCH/tmp \
      KUBE_GIT_VERSION_FILE=$SCRATCH/version.defs
    mkdir -p "$TMPDIR"
    make WHAT=cmd/kube-apiserver >>"$LOG" 2>&1
  )
  local bin
  bin=$(find "$SCRATCH/src/_output" -type f -name kube-apiserver -perm -u+x | head -n 1)
  [ -n "$bin" ] || die "make finished but produced no kube-apiserver binary"
  "$bin" --version >>"$LOG" 2>&1 || die "the built kube-apiserver does not run"
  install -m 0755 "$bin" "$APISERVER.tmp"
  mv -f "$APISERVER.tmp" "$APISERVER"
}

fetch_kubectl() {
  local ver deb
  ver=$(pick_version show kubernetes-client)
  [ -n "$ver" ] || die "no 'kubernetes-client' $K8S_VERSION in the Debian mirror"
  STEP="apt-get download kubernetes-client=$ver"
  log "fetching kubectl from kubernetes-client=$ver"
  mkdir -p "$SCRATCH/kubectl"
  (cd "$SCRATCH/kubectl" && apt-get "${APT_OPTS[@]}" download "kubernetes-client=$ver" >>"$LOG" 2>&1)
  deb=$(compgen -G "$SCRATCH/kubectl/kubernetes-client_*.deb" | head -n 1) \
    || die "apt-get download produced no .deb"
  dpkg -x "$deb" "$SCRATCH/kubectl/root"
  [ -x "$SCRATCH/kubectl/root/usr/bin/kubectl" ] || die "$deb has no usr/bin/kubectl"
  install -m 0755 "$SCRATCH/kubectl/root/usr/bin/kubectl" "$KUBECTL.tmp"
  mv -f "$KUBECTL.tmp" "$KUBECTL"
}

cached() {
  [ -x "$APISERVER" ] && [ -x "$KUBECTL" ]
}

main() {
  mkdir -p "$CACHE_DIR"
  exec 9>"$CACHE_DIR/.lock"
  STEP="waiting for another build (lock $CACHE_DIR/.lock)"
  flock 9
  STEP="checking runtime packages"
  ensure_pkgs "${RUNTIME_PKGS[@]}"
  if ! cached; then
    local started=$SECONDS
    : >"$LOG"
    ensure_pkgs "${BUILD_PKGS[@]}"
    STEP="creating a scratch directory"
    SCRATCH=$(mktemp -d "${L5D_K8S_SCRATCH:-${TMPDIR:-/tmp}}/l5d-k8s-build.XXXXXX")
    private_apt
    [ -x "$KUBECTL" ] || fetch_kubectl
    if [ ! -x "$APISERVER" ]; then
      fetch_source
      patch_reflect2
      build_apiserver
    fi
    log "built in $((SECONDS - started)) s"
  fi
  echo "kube-apiserver: $APISERVER"
  echo "kubectl: $KUBECTL"
  echo "etcd: $(command -v etcd)"
}

main "$@"
