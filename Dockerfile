# Builds flyt's image: a static binary on a distroless base, running as nonroot.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/flyt ./cmd/flyt

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flyt /usr/local/bin/flyt
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/flyt"]
CMD ["serve", "--config", "/etc/flyt/platform.yaml"]
