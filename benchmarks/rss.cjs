// Preloaded into a measured child process (`node -r ./benchmarks/rss.cjs ...`): prints the
// process's peak resident set size (worker threads included) to stderr at exit.
process.on('exit', () => {
  process.stderr.write(`\n@@maxrss_kib=${process.resourceUsage().maxRSS}\n`);
});
