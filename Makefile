# fleet: make build | test | demo | bench | fuzz | lint
GO       ?= go
BIN      := bin/fleet
DEMO_DIR ?= /tmp/fleet-demo
FUZZTIME ?= 30s
FUZZKEEP ?= 200

.PHONY: all build install test tools unit e2e lint fuzz demo demo-down bench scale clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/fleet

# install: the binary, its manual page and its bash, zsh and fish
# completions, all generated from the command definitions by the binary
# itself (fleet man, fleet completion SHELL), under $(DESTDIR)$(PREFIX).
PREFIX ?= /usr/local
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/fleet
	$(BIN) man > $(DESTDIR)$(PREFIX)/share/man/man1/fleet.1
	$(BIN) completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/fleet
	$(BIN) completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_fleet
	$(BIN) completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/fleet.fish

# test: lint, unit and script tests, then the e2e tests against real sshd
# hosts (the harness installs openssh-server and sudo with apt-get when they
# are missing, and says so), then a short fuzzing pass over the parsers.
test: lint tools unit e2e fuzz

# tools: sshd, sftp-server and sudo, which the tests run for real; installed
# with apt-get when missing (the harness says so).
tools:
	@echo "== test tools (openssh-server, sudo)"
	@if [ "$$(id -u)" = 0 ]; then $(GO) run ./e2e/cmd/testfleet tools; \
	  else echo "not root: the e2e tests will say why they are skipped"; fi

lint:
	@echo "== gofmt and go vet"
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	@echo "== unit and script tests (race detector on)"
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)
	@echo "== memory bound of copy (without the race detector, which multiplies memory)"
	$(GO) test -count=1 -run 'Memory' ./fleet/

# e2e: -parallel 6, not GOMAXPROCS (2 on CI): these tests mostly wait on
# sshd, sudo and remote sleeps; at 2 the package took 121 s with 1.1 cores
# busy, at 4 90 s, at 6 79-84 s with 1.8 cores busy (more would only queue
# on the CPU).
e2e:
	@echo "== e2e tests against real OpenSSH hosts"
	$(GO) test -race -count=1 -timeout 15m -parallel 6 ./e2e/...

# fuzz: each target for FUZZTIME; what the fuzzer found is then copied from
# Go's cache into testdata/fuzz, where plain `go test` replays it (at most
# FUZZKEEP inputs per target, the smallest: see scripts/fuzzkeep.sh).
fuzz:
	@echo "== fuzzing the host-list parser, the range expander and the recipe parser ($(FUZZTIME) each)"
	$(GO) test ./inventory -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	@GO=$(GO) ./scripts/fuzzkeep.sh inventory FuzzParse $(FUZZKEEP)
	$(GO) test ./inventory -run '^$$' -fuzz '^FuzzExpand$$' -fuzztime $(FUZZTIME)
	@GO=$(GO) ./scripts/fuzzkeep.sh inventory FuzzExpand $(FUZZKEEP)
	$(GO) test ./recipes -run '^$$' -fuzz '^FuzzParseRecipe$$' -fuzztime $(FUZZTIME)
	@GO=$(GO) ./scripts/fuzzkeep.sh recipes FuzzParseRecipe $(FUZZKEEP)

# demo: a local fleet of real sshd hosts, one of them unreachable, and fleet
# run against it. Leaves the hosts up for you to try; make demo-down stops them.
demo: build
	@DEMO_DIR=$(DEMO_DIR) FLEET=$(CURDIR)/$(BIN) GO=$(GO) ./e2e/demo.sh

demo-down:
	-$(GO) run ./e2e/cmd/testfleet down -dir $(DEMO_DIR)/distros
	-$(GO) run ./e2e/cmd/testfleet down -dir $(DEMO_DIR)

# bench: fleet against its peers on real sshd hosts (docs/benchmarks.md),
# then fleet alone at scale, 5,000 lightweight SSH endpoints at -p 1000
# (docs/scale.md). Reports, not tests. make scale runs the second part only;
# SCALE_ARGS=-quick makes it a 500-host smoke check.
bench: build
	$(GO) run ./e2e/cmd/bench -fleet $(CURDIR)/$(BIN)
	$(GO) run ./e2e/cmd/scale -fleet $(CURDIR)/$(BIN) $(SCALE_ARGS)

scale: build
	$(GO) run ./e2e/cmd/scale -fleet $(CURDIR)/$(BIN) $(SCALE_ARGS)

clean:
	rm -rf bin
