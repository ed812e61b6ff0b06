# debfleet: see README.md. Every target installs what it needs
# (scripts/install-deps), so a fresh Debian/Ubuntu machine with Go is enough.

GO       ?= go
VERSION  ?= $(shell scripts/version 2>/dev/null || echo 0.0.0~unknown)
BIN      := bin
DIST     := dist
export PATH := $(CURDIR)/.cache/bin:$(PATH)
# Packages that must build (and vet) on macOS, Windows and FreeBSD too.
CROSS_VET := ./restart ./examples/hello ./examples/worker ./cmd/pkgdeb

.PHONY: all build test lint bench fuzz package deps demo e2e clean

all: build

## build: compile pkgdeb, autoupdate and the hello example into bin/
# Static (no cgo) and stripped: what we ship in .debs, and what lintian accepts
# without hardening or unstripped-binary findings.
build:
	mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN)/ ./cmd/... ./examples/...

## deps: install the test dependencies (Debian packages, versitygw)
deps:
	scripts/install-deps test

## test: vet and run every test against real dpkg, lintian and a local S3 server
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

## demo: three servers follow a release channel in a local S3 server (no cloud account, no root)
demo:
	scripts/demo

## e2e: the end-to-end test on real systemd (root; debootstrap and systemd-nspawn, cached in .cache/e2e)
e2e:
	scripts/e2e

## lint: no tracked binaries; gofmt, go vet and staticcheck must all be silent
lint:
	scripts/lint/check-tracked
	scripts/install-deps lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	@# A service built on restart/ must build where its developers work.
	for os in darwin windows freebsd; do GOOS=$$os $(GO) vet $(CROSS_VET) || exit 1; done

## bench: the timed comparisons against dpkg-deb, tableflip and plain uploads
bench:
	scripts/install-deps test bench
	scripts/bench

## fuzz: a minute each of coverage-guided fuzzing of the .deb reader and
## the DEFLATE encoder (minimizing new inputs would take most of the minute)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRead -fuzztime 60s ./deb/
	$(GO) test -run '^$$' -fuzz FuzzRoundTrip -fuzztime 60s -fuzzminimizetime 1x ./internal/deflate/

## package: build this project's own .debs with pkgdeb (dogfooding) into dist/
package: build
	scripts/package $(VERSION) $(DIST)

clean:
	rm -rf $(BIN) $(DIST)
