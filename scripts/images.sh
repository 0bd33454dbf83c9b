#!/usr/bin/env bash
# Builds the images, with podman and no registry: one per function `FROM scratch` (the static musl
# binary of the `image` profile, the CA bundle, a passwd entry for the non-root user 65532), and the
# storefront (NGINX and frontend/dist). One cargo build serves every function image.
#
#   scripts/images.sh                       every artifact of skaffold.yaml (what `make images` does)
#   scripts/images.sh place-order sign-in   those functions only; `storefront` names the storefront
#   IMAGE=<registry>/ticketing.sign-in.fn:<tag> scripts/images.sh
#                                           skaffold's custom build: that artifact, tagged $IMAGE and
#                                           pushed when PUSH_IMAGE=true
#
# Images are named like the artifacts and the Knative manifests: `ticketing.<binary>.fn` (podman
# stores them as localhost/ticketing.<binary>.fn:latest) and `ticketing.storefront.web`.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'images: %s\n' "$*" >&2; }

target=x86_64-unknown-linux-musl
profile=image
out=target/images
# The user every image runs as (distroless's `nonroot`): not root, and no shell to log in with.
uid=65532

if [ -n "${IMAGE:-}" ]; then
  # skaffold passes the full reference; the artifact's name is its last path segment, tag removed.
  artifact=${IMAGE##*/}
  artifact=${artifact%%[:@]*}
  case "$artifact" in
    ticketing.storefront.web) set -- storefront ;;
    ticketing.*.fn) artifact=${artifact#ticketing.}; set -- "${artifact%.fn}" ;;
    *) log "IMAGE=$IMAGE is not an artifact of skaffold.yaml"; exit 2 ;;
  esac
elif (($# == 0)); then
  # Every artifact of skaffold.yaml, so that the two lists cannot drift apart.
  mapfile -t artifacts < <(sed -n 's/^    - image: ticketing\.\(.*\)\.\(fn\|web\)$/\1/p' skaffold.yaml)
  set -- "${artifacts[@]}"
fi

functions=()
storefront=false
for name in "$@"; do
  if [ "$name" = storefront ]; then
    storefront=true
  elif grep -qx "    - image: ticketing.${name}.fn" skaffold.yaml; then
    functions+=("$name")
  else
    log "$name is not an artifact of skaffold.yaml (ticketing.$name.fn)"
    exit 2
  fi
done

./scripts/setup-tools.sh images

# What every image has besides its program: the CA bundle (HTTPS to AWS and Stripe), the user, and
# a writable /tmp. Debian's bundle; the ca-certificates package is on every machine with curl/git.
base=$out/base
rm -rf "$base"
mkdir -p "$base/etc/ssl/certs" "$base/tmp"
chmod 1777 "$base/tmp"
cp /etc/ssl/certs/ca-certificates.crt "$base/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n' \
  "$uid" "$uid" >"$base/etc/passwd"
printf 'root:x:0:\nnonroot:x:%d:\n' "$uid" >"$base/etc/group"
printf 'hosts: files dns\n' >"$base/etc/nsswitch.conf"
# Fixed times, so that an unchanged base makes an unchanged layer.
find "$base" -exec touch -h -d @0 {} +

# Every image (and build cache) this script makes carries the label, so that what a rebuild leaves
# untagged can be pruned without touching anyone else's images.
label=dev.ticketing.built-by=scripts/images.sh

podman_build() { # context tag
  podman build --quiet --layers --label "$label" --tag "$2" "$1" >/dev/null
  if [ -n "${IMAGE:-}" ]; then
    podman tag "$2" "$IMAGE"
    if [ "${PUSH_IMAGE:-false}" = true ]; then
      podman push --quiet "$IMAGE"
    fi
  fi
}

if ((${#functions[@]})); then
  bins=()
  for name in "${functions[@]}"; do bins+=(--bin "$name"); done
  log "building ${#functions[@]} binaries (cargo, profile $profile, $target)"
  cargo build --locked --quiet --profile "$profile" --target "$target" "${bins[@]}"
  for name in "${functions[@]}"; do
    context=$out/$name
    rm -rf "$context"
    mkdir -p "$context"
    cp -a "$base" "$context/base"
    cp "target/$target/$profile/$name" "$context/function"
    cat >"$context/Containerfile" <<EOF
FROM scratch
COPY base/ /
COPY function /function
USER $uid:$uid
ENTRYPOINT ["/function"]
EOF
    podman_build "$context" "ticketing.$name.fn"
  done
fi

if [ "$storefront" = true ]; then
  ./scripts/build-storefront.sh >/dev/null
  # NGINX from Debian (scripts/setup.sh installs it for `make run`) with exactly the libraries it
  # links, so that no base image has to come from a registry. The cluster mounts the server
  # configuration at /etc/nginx/conf.d and config.json at /etc/ticketing (knative/base/nginx.yaml).
  context=$out/storefront
  rm -rf "$context"
  mkdir -p "$context/root/usr/sbin" "$context/root/etc/nginx/conf.d" "$context/root/usr/share/nginx"
  cp -a "$base/." "$context/root/"
  cp /usr/sbin/nginx "$context/root/usr/sbin/nginx"
  ldd /usr/sbin/nginx | grep -o '/[^ ]*' | while read -r library; do
    mkdir -p "$context/root$(dirname "$library")"
    cp -L "$library" "$context/root$library"
  done
  cp -r frontend/dist "$context/root/usr/share/nginx/html"
  cat >"$context/root/etc/nginx/nginx.conf" <<'EOF'
# The storefront image's NGINX: not root, everything writable under /tmp, logs on stdout/stderr.
worker_processes auto;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    default_type application/octet-stream;
    access_log /dev/stdout;
    client_body_temp_path /tmp/body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    include /etc/nginx/conf.d/*.conf;
}
EOF
  cat >"$context/Containerfile" <<EOF
FROM scratch
COPY root/ /
USER $uid:$uid
EXPOSE 8080
ENTRYPOINT ["/usr/sbin/nginx", "-e", "stderr", "-g", "daemon off;"]
EOF
  podman_build "$context" ticketing.storefront.web
fi

podman image prune --force --filter "label=$label" >/dev/null
podman images --filter reference='ticketing.*' --format '{{.Repository}} {{.Size}}' | sort >&2
