#!/usr/bin/env bash
# Builds and rolls out one function: its image (skaffold, that artifact only) and its Knative Service
# from the overlay (kubectl, that object only). DRY_RUN=1 prints both steps and the manifest, offline.
set -euo pipefail
cd "$(dirname "$0")/.."

fn=${FN:?usage: make deploy FN=<function> [OVERLAY=dev|prod|drop] [DRY_RUN=1]}
overlay=${OVERLAY:-dev}
image="ticketing.${fn}.fn"
if ! grep -qx "    - image: ${image}" skaffold.yaml; then
  echo "deploy: ${fn} is not a function (no artifact ${image} in skaffold.yaml)" >&2
  exit 2
fi
if [ ! -d "knative/overlays/${overlay}" ]; then
  echo "deploy: no overlay ${overlay} (knative/overlays/)" >&2
  exit 2
fi
build_file=".run/build-${fn}.json"
manifest=$(kubectl kustomize "knative/overlays/${overlay}" | node scripts/select-function.mjs "${fn}")

if [ "${DRY_RUN:-0}" = 1 ]; then
  echo "# 1. build one image"
  echo "skaffold build --profile ${overlay} --build-image ${image} --file-output ${build_file}"
  echo "# 2. apply ${fn}'s Service from knative/overlays/${overlay}, its image set to the one just built"
  echo "kubectl apply --filename - <<'MANIFEST'"
  echo "${manifest}"
  echo "MANIFEST"
  exit 0
fi

mkdir -p .run
skaffold build --profile "${overlay}" --build-image "${image}" --file-output "${build_file}"
built=$(node -e 'const b=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).builds;process.stdout.write(b.find(x=>x.imageName===process.argv[2]).tag)' "${build_file}" "${image}")
printf '%s\n' "${manifest}" | sed "s|image: ${image}\$|image: ${built}|" | kubectl apply --filename -
