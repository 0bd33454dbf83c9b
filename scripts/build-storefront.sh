#!/usr/bin/env bash
# Builds the storefront into frontend/dist: the size-optimised wasm, wasm-bindgen's JS, a boot module
# and the stylesheet, each named by its content hash (cached for ever), and index.html naming them
# (never cached). Prints the gzipped size of wasm + js + css against the budget in the architecture.
set -euo pipefail
cd "$(dirname "$0")/.."

budget_kb=300
dist=frontend/dist
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

cargo build --quiet -p storefront --target wasm32-unknown-unknown --profile storefront
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir "$stage" \
  target/wasm32-unknown-unknown/storefront/storefront.wasm

hashed() { # file prefix extension → prefix-<hash>.extension
  printf '%s-%s.%s' "$2" "$(sha256sum "$1" | cut -c1-16)" "$3"
}
wasm=$(hashed "$stage/storefront_bg.wasm" storefront wasm)
js=$(hashed "$stage/storefront.js" storefront js)
css=$(hashed frontend/style.css style css)
printf 'import init from "/%s";\ninit({ module_or_path: "/%s" });\n' "$js" "$wasm" >"$stage/boot.js"
boot=$(hashed "$stage/boot.js" boot js)

rm -rf "$dist.new"
mkdir -p "$dist.new"
cp "$stage/storefront_bg.wasm" "$dist.new/$wasm"
cp "$stage/storefront.js" "$dist.new/$js"
cp "$stage/boot.js" "$dist.new/$boot"
cp frontend/style.css "$dist.new/$css"
sed -e "s|{{style}}|$css|" -e "s|{{script}}|$js|" -e "s|{{boot}}|$boot|" \
  frontend/index.html >"$dist.new/index.html"
rm -rf "$dist"
mv "$dist.new" "$dist"

gzipped() { gzip -9 -c "$dist/$1" | wc -c; }
total=0
for file in "$wasm" "$js" "$boot" "$css"; do total=$((total + $(gzipped "$file"))); done
printf '{"wasm": %d, "js": %d, "css": %d, "total": %d, "budget": %d}\n' \
  "$(gzipped "$wasm")" "$(($(gzipped "$js") + $(gzipped "$boot")))" "$(gzipped "$css")" \
  "$total" $((budget_kb * 1024)) >target/storefront-size.json
printf 'storefront: wasm + js + css gzipped = %d KB (budget %d KB) in %s\n' \
  $(((total + 1023) / 1024)) "$budget_kb" "$dist"
