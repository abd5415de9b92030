// Preloaded into a measured child process (`node -r ./benchmarks/rss.cjs ...`): prints to
// stderr at exit the process's peak resident set size (worker threads included), its CPU time
// on all threads, and that of the main thread alone (Linux; from /proc).
const { readFileSync } = require('node:fs');

/** CPU seconds of the main thread, or -1 where /proc is not there. */
function mainThreadCpu() {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 a second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return -1;
  }
}

process.on('exit', () => {
  const all = process.cpuUsage();
  process.stderr.write(
    `\n@@maxrss_kib=${process.resourceUsage().maxRSS} @@cpu_s=${((all.user + all.system) / 1e6).toFixed(2)} @@main_cpu_s=${mainThreadCpu().toFixed(2)}\n`,
  );
});
