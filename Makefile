# Thin wrapper over meson for the README's commands. Every target installs
# what it needs first (scripts/deps.sh: Debian packages only).
BUILD     ?= build
BUILD_SAN ?= build-asan

.PHONY: all deps build run test bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) --buildtype=debugoptimized
	ninja -C $(BUILD)

# Run the server on loopback with a demo domain, account and a self-signed
# certificate (local trials only) under ./var/demo.
run: build
	scripts/demo.sh $(BUILD)/src/cmd/hikyaku

# Every test (unit, fuzz corpus replay, integration), built with
# AddressSanitizer and UBSan. Ends with "N passed, N failed".
test: deps
	@test -f $(BUILD_SAN)/build.ninja || meson setup $(BUILD_SAN) --buildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(BUILD_SAN)
	scripts/run-tests.sh $(BUILD_SAN)

bench: build
	bench/smtp-receive $(BUILD)/src/cmd/hikyaku
	bench/smtp-relay $(BUILD)/src/cmd/hikyaku
	bench/imap $(BUILD)/src/cmd/hikyaku

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
