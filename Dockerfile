# One image for the whole stack: the pinned Temporal CLI and MinIO (built from source with the
# same provisioning script as a local checkout) plus Kaizen itself.
FROM golang:1.25.4-bookworm AS go

FROM node:20.19.5-bookworm AS build
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:$PATH KAIZEN_BIN_DIR=/opt/kaizen/bin
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY scripts/provision.mjs scripts/provision.mjs
RUN node scripts/provision.mjs
COPY . .

FROM node:20.19.5-bookworm-slim
ENV KAIZEN_TEMPORAL_BIN=/opt/kaizen/bin/temporal KAIZEN_MINIO_BIN=/opt/kaizen/bin/minio KAIZEN_HOME=/data
COPY --from=build /opt/kaizen/bin /opt/kaizen/bin
COPY --from=build /app /app
WORKDIR /app
ENTRYPOINT ["node", "bin/kaizen.js"]
