# workerd config for convert-worker.js: a Worker converting the layers PUT to it, listening on
# a socket. Not run as is: convert.test.ts makes the fixtures and writes
# .fixtures-convert/convert.capnp from this file (the socket address filled in, and
# dist/index.js's shared chunks listed where the @dist-chunks line is). To rerun by hand after
# the test: npx workerd serve test/workerd/.fixtures-convert/convert.capnp
# No compatibility flags: the core must not need nodejs_compat.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # The Worker's fetch reaches the test's upstream store on 127.0.0.1 (workerd allows only
    # public addresses by default).
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "@address", http = (), service = "main")],
  # A heap limit, as a deployed Worker's isolate has one (128 MB in all on Cloudflare): without
  # one, V8 lets garbage grow far past what a conversion holds.
  v8Flags = ["--max-old-space-size=64", "--max-semi-space-size=1"],
);

const worker :Workerd.Worker = (
  compatibilityDate = "2025-01-01",
  globalOutbound = "loopback",
  modules = [
    (name = "worker", esModule = embed "convert-worker.js"),
    (name = "layerdiff", esModule = embed "../../dist/index.js"),
    # @dist-chunks
    (name = "layerdiff/cdc.wasm", wasm = embed "../../dist/cdc.wasm"),
    (name = "layerdiff/zstd.wasm", wasm = embed "../../dist/zstd.wasm"),
    (name = "fzstd", esModule = embed "../../node_modules/fzstd/esm/index.mjs"),
    (name = "hash-wasm", esModule = embed "../../node_modules/hash-wasm/dist/index.esm.js"),
    (name = "fixtures/upstream.json", json = embed ".fixtures-convert/upstream.json"),
  ],
);
