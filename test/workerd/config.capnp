# workerd config for worker.js. Not run as is: workerd.test.ts makes the fixtures and writes
# .fixtures/config.capnp from this file, listing dist/index.js's shared chunks (their names
# change with every build) where the @dist-chunks line is. To rerun by hand after the test:
#   npx workerd test test/workerd/.fixtures/config.capnp
# No compatibility flags: the core must not need nodejs_compat.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
);

const worker :Workerd.Worker = (
  compatibilityDate = "2025-01-01",
  modules = [
    (name = "worker", esModule = embed "worker.js"),
    (name = "web-suite", esModule = embed "../web/suite.js"),
    (name = "layerdiff", esModule = embed "../../dist/index.js"),
    # @dist-chunks
    (name = "layerdiff/cdc.wasm", wasm = embed "../../dist/cdc.wasm"),
    (name = "layerdiff/lz4.wasm", wasm = embed "../../dist/lz4.wasm"),
    (name = "layerdiff/zstd.wasm", wasm = embed "../../dist/zstd.wasm"),
    (name = "fzstd", esModule = embed "../../node_modules/fzstd/esm/index.mjs"),
    (name = "hash-wasm", esModule = embed "../../node_modules/hash-wasm/dist/index.esm.js"),
    (name = "fixtures/layer.tar", data = embed ".fixtures/layer.tar"),
    (name = "fixtures/layer.tar.gz", data = embed ".fixtures/layer.tar.gz"),
    (name = "fixtures/layer.tar.zst", data = embed ".fixtures/layer.tar.zst"),
    (name = "fixtures/expected.json", json = embed ".fixtures/expected.json"),
  ],
);
