# workerd config for registry-worker.js: the registry handler as a Worker's fetch, listening
# on a socket. Not run as is: registry.test.ts makes the fixtures and writes
# .fixtures-registry/registry.capnp from this file (the socket address filled in, and
# dist/index.js's shared chunks listed where the @dist-chunks line is). To rerun by hand after
# the test: npx workerd serve test/workerd/.fixtures-registry/registry.capnp
# No compatibility flags: the core must not need nodejs_compat.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # The Worker's fetch reaches the test's registry on 127.0.0.1 (workerd allows only public
    # addresses by default).
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "@address", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  compatibilityDate = "2025-01-01",
  globalOutbound = "loopback",
  modules = [
    (name = "worker", esModule = embed "registry-worker.js"),
    (name = "layerdiff", esModule = embed "../../dist/index.js"),
    # @dist-chunks
    (name = "fzstd", esModule = embed "../../node_modules/fzstd/esm/index.mjs"),
    (name = "hash-wasm", esModule = embed "../../node_modules/hash-wasm/dist/index.esm.js"),
    (name = "fixtures/registry.json", json = embed ".fixtures-registry/registry.json"),
  ],
);
