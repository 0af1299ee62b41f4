#!/usr/bin/env bash
# Builds the programs the test harness starts into .tools/, pinned and cached
# by version: a second run finds every binary in place and takes seconds.
#
#   .tools/<name>-<version>/<binary>   the cached build
#   .tools/bin/<binary>                symlink the harness and the demo use
#
# Versions come from the environment (set by the GNUmakefile) so the pins live
# in one place. Terraform and moto_server are not built: they come with the
# machine image; this script only says plainly when they are missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
tools="$root/.tools"
mkdir -p "$tools/bin"

: "${KUBE_VERSION:?}" "${VERSITYGW_VERSION:?}" "${TFPLUGINDOCS_VERSION:?}"

log() { printf '==> tools: %s\n' "$*"; }

# link NAME DIR: point .tools/bin/NAME at DIR/NAME.
link() { ln -sfn "$2/$1" "$tools/bin/$1"; }

# The kube binaries depend on the whole tools module, so its go.mod/go.sum
# hash is part of the cache key: a changed pin rebuilds, nothing else does.
kube_key=$(cat "$root/test/tools/go.mod" "$root/test/tools/go.sum" | sha256sum | cut -c1-12)
kube_dir="$tools/kube-${KUBE_VERSION}-${kube_key}"
kube_bins=(kube-apiserver kube-controller-manager etcd etcdctl etcdutl)
missing=0
for b in "${kube_bins[@]}"; do [ -x "$kube_dir/$b" ] || missing=1; done
if [ "$missing" = 1 ]; then
  log "building kube-apiserver, kube-controller-manager, etcd, etcdctl, etcdutl ${KUBE_VERSION} (cold: about 6 minutes)"
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitTreeState=clean"
  tmp="$kube_dir.partial"
  rm -rf "$tmp"; mkdir -p "$tmp"
  (
    cd "$root/test/tools"
    go build -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    go build -trimpath -ldflags "$ldflags" -o "$tmp/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
    go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
    go build -trimpath -ldflags "-s -w" -o "$tmp/etcdctl" go.etcd.io/etcd/etcdctl/v3
    go build -trimpath -ldflags "-s -w" -o "$tmp/etcdutl" go.etcd.io/etcd/etcdutl/v3
  )
  rm -rf "$kube_dir"; mv "$tmp" "$kube_dir"
else
  log "kube ${KUBE_VERSION} binaries cached in ${kube_dir#$root/}"
fi
for b in "${kube_bins[@]}"; do link "$b" "$kube_dir"; done

# go_install NAME PKG VERSION: go install into a versioned directory once.
go_install() {
  local name=$1 pkg=$2 version=$3 dir="$tools/$1-$3"
  if [ -x "$dir/$name" ]; then
    log "$name $version cached"
  else
    log "installing $name $version"
    rm -rf "$dir.partial"; mkdir -p "$dir.partial"
    CGO_ENABLED=0 GOBIN="$dir.partial" go install -trimpath -ldflags "-s -w" "$pkg@$version"
    rm -rf "$dir"; mv "$dir.partial" "$dir"
  fi
  link "$name" "$dir"
}
go_install versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION"
go_install tfplugindocs github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs "$TFPLUGINDOCS_VERSION"

# What comes from the machine image.
status=0
if tf=$(command -v terraform); then
  log "terraform: $($tf version | head -1) ($tf)"
else
  log "MISSING terraform: install Terraform >= 1.11 and put it on PATH (make test needs it)"
  status=1
fi
# Not fatal here: the demo needs no moto. make test does fail without it.
if moto=$("$root/test/tools/find-moto.sh" 2>/dev/null); then
  log "moto_server: $moto"
else
  log "MISSING moto_server ($("$root/test/tools/find-moto.sh" 2>&1 >/dev/null)): the AWS tests FAIL without it; install it with 'pip install \"moto[server]\"', or set K8SGUARD_SKIP_AWS=1 to skip them"
fi
exit $status
