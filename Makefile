# Gatehouse: the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD_DIR ?= build
RELEASE_DIR ?= build-release
CONFIG ?= var/gatehouse.toml

.PHONY: all build run test bench deps clean format

all: build

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Installs what is missing, builds, creates a development setup under var/ on
# first use, and serves on https://localhost:8443.
run:
	@scripts/install-deps.sh build
	@$(MAKE) --no-print-directory build
	@scripts/dev-setup.sh var
	$(BUILD_DIR)/gatehouse serve --config $(CONFIG)

# Installs what is missing (test servers included), builds, runs every test.
test:
	@scripts/install-deps.sh test
	@scripts/install-node-deps.sh
	@$(MAKE) --no-print-directory build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j $(JOBS)

# Release build, then throughput, latency and memory next to nginx and a Node.js peer
# (health check, forward auth, password login), then the rate limiter; about six minutes.
bench:
	@scripts/install-deps.sh bench
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DGATEHOUSE_TESTS=OFF -DGATEHOUSE_BENCH=ON >/dev/null
	cmake --build $(RELEASE_DIR) -j $(JOBS)
	bench/run.sh $(RELEASE_DIR)/gatehouse $(RELEASE_DIR)/bench/argon2_rate
	bench/protect.sh $(RELEASE_DIR)

format:
	find src tests bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(RELEASE_DIR)
