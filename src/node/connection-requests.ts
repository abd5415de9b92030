/**
 * The requests of one `node:http` connection not yet answered, and the bound on them. A client
 * may pipeline requests (send more before it reads the answers), and Node's HTTP parser takes
 * in every request it reads while they wait their turn; with no bound, a client that sent
 * 30,000 requests without reading made the server hold them all (129 MB of heap in a review's
 * run). Here a connection with more than `maxPipelined` unanswered requests is ended.
 *
 * Why it is ended rather than paused: Node offers no pause of its own for this (it pauses a
 * connection only while responses pile up unsent). Stopping the socket by its internals
 * (`_paused`, `parser`) was tried, and a review found two faults in it: a request left half
 * read at the pause was timed out by Node's `headersTimeout` while the answer before it was
 * still being sent (the download broken off), and a paused socket, read no more, never saw its
 * client go, so its queued requests still took pull turns. Clients that pipeline are rare
 * (docker, containerd, skopeo and browsers do not), and HTTP/1.1 asks a client that does to
 * send again what a closed connection left unanswered.
 *
 * @module
 */
import type { Socket } from 'node:net';

/**
 * The connections with requests, each aborting all its requests with one listener when it
 * closes: one listener per request on one signal of the connection cost a scan of the others
 * each (in a review's run, a client that pipelined 30,000 requests took 10 s to take in, and
 * froze the server for 9 s when it went).
 */
const connections = new WeakMap<Socket, Set<AbortController>>();

/**
 * Takes in one request read from `socket`. A connection with more than `maxPipelined`
 * requests unanswered is ended, and none of its unanswered requests is answered. Node parses
 * a whole read (up to 64 KiB) before the end takes effect; the requests parsed after it get a
 * signal aborted at once.
 * @param socket - the request's connection.
 * @param maxPipelined - the bound (at least 1).
 * @returns the request's `signal`, aborted when the connection closes (at once, if it has),
 * and `done`, to call when its response is written or given up.
 */
export function takeRequest(
  socket: Socket,
  maxPipelined: number,
): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  if (socket.destroyed) {
    ac.abort(new Error('the client went away'));
    return { signal: ac.signal, done: () => {} };
  }
  let requests = connections.get(socket);
  if (!requests) {
    const held = new Set<AbortController>();
    requests = held;
    connections.set(socket, held);
    socket.once('close', () => {
      const reason = new Error('the client went away');
      for (const r of held) r.abort(reason);
      held.clear();
    });
  }
  const held = requests;
  held.add(ac);
  // Its 'close' aborts every request of it.
  if (held.size > maxPipelined) socket.destroy();
  return { signal: ac.signal, done: () => held.delete(ac) };
}
