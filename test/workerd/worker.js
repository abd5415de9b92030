/**
 * Runs in workerd (`workerd test`), with no Node API: the web runtimes' round trips
 * (test/web/suite.js) with the precompiled modules, after the checks of workerd's own: its
 * streaming digest is used, and compiling WebAssembly from bytes is refused, so the loaders
 * fall back or fail as documented. Throwing fails the test. workerd.test.ts makes the fixtures
 * and renders config.capnp, which maps the module names imported here to files.
 */

import expected from 'fixtures/expected.json';
import tarFixture from 'fixtures/layer.tar';
import gzipFixture from 'fixtures/layer.tar.gz';
import zstdFixture from 'fixtures/layer.tar.zst';
import { loadCdcKernel, loadLz4Codec, webHashProvider } from 'layerdiff';
import kernelModule from 'layerdiff/cdc.wasm';
import lz4Module from 'layerdiff/lz4.wasm';
import zstdModule from 'layerdiff/zstd.wasm';
import { check, roundTrip, runSuite } from 'web-suite';

export default {
  async test() {
    const tar = new Uint8Array(tarFixture);
    const zstd = new Uint8Array(zstdFixture);
    // workerd's streaming digest is used, not hash-wasm (which would need to compile Wasm).
    const hashName = webHashProvider().name;
    check(
      hashName === 'webcrypto+digeststream',
      `hash provider is ${hashName}, expected webcrypto+digeststream`,
    );

    // The precompiled module is instantiated; compiling the embedded bytes is refused.
    const wasm = await loadCdcKernel({ wasm: kernelModule, fallback: false });
    check(wasm.name === 'wasm', `precompiled cdc.wasm gave the ${wasm.name} kernel`);
    const refused = await loadCdcKernel({ fallback: false }).then(
      (k) => `resolved with the ${k.name} kernel`,
      (e) => e,
    );
    check(
      refused?.code === 'ERR_WASM_UNAVAILABLE',
      `loadCdcKernel({ fallback: false }) should reject with ERR_WASM_UNAVAILABLE in workerd, got ${refused}`,
    );
    console.log(`compiling the embedded kernel: ${refused.message}`);
    const fallback = await loadCdcKernel();
    check(
      fallback.name === 'js',
      `default loader gave the ${fallback.name} kernel, expected the js fallback`,
    );
    // The zstd engine 'wasm' needs the precompiled module here.
    const refusedZstd = await roundTrip('tar+zstd, wasm engine', zstd, expected, {
      zstd: { engine: 'wasm' },
    }).then(
      () => 'converted',
      (e) => e,
    );
    check(
      refusedZstd?.code === 'ERR_WASM_UNAVAILABLE',
      `zstd engine 'wasm' with no module should fail with ERR_WASM_UNAVAILABLE, got ${refusedZstd}`,
    );

    await runSuite({
      tar,
      gzip: new Uint8Array(gzipFixture),
      zstd,
      expected,
      kernel: wasm,
      // No kernel given: convert loads the default, which falls back to JS here.
      otherKernel: undefined,
      // fzstd (the embedded module cannot be compiled here), and layerdiff's block decoder
      // from the precompiled module.
      zstdEngines: [
        ['fzstd', undefined],
        ['zstd.wasm', { engine: 'wasm', wasm: zstdModule }],
      ],
      lz4: await loadLz4Codec({ wasm: lz4Module }),
      log: (line) => console.log(line),
    });
    console.log('layerdiff workerd round trip: ok');
  },
};
