# One image per function: a static (musl) binary on a distroless base.
#   docker build --build-arg FUNCTION=sign-up -t sign-up .
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
