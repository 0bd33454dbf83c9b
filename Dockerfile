# One image per function: a static (musl) binary on a distroless base (the default, last stage).
#   docker build --build-arg FUNCTION=sign-up -t sign-up .
# And the front door: NGINX with the built storefront (`--target storefront`).

FROM rust:1.95-bookworm AS storefront-build
RUN rustup target add wasm32-unknown-unknown
WORKDIR /src
COPY . .
RUN cargo install --quiet wasm-bindgen-cli --version "$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)" \
 && ./scripts/build-storefront.sh

FROM nginx:1.27-alpine AS storefront
COPY --from=storefront-build /src/frontend/dist /usr/share/nginx/html
EXPOSE 8080

FROM rust:1.95-bookworm AS build
RUN rustup target add x86_64-unknown-linux-musl \
 && apt-get update -qq && apt-get install -y -qq --no-install-recommends musl-tools
WORKDIR /src
COPY . .
ARG FUNCTION
RUN cargo build --locked --profile image --target x86_64-unknown-linux-musl --bin "${FUNCTION}" \
 && cp "target/x86_64-unknown-linux-musl/image/${FUNCTION}" /function

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /function /function
USER nonroot
ENTRYPOINT ["/function"]
