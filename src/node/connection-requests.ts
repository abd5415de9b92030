/**
 * The requests of one `node:http` connection not yet answered, and the bound on them. A client
 * may pipeline requests (send more before it reads the answers), and Node's HTTP parser takes
 * in every request it reads while they wait their turn; with no bound, a client that sent
 * 30,000 requests without reading made the server hold them all (129 MB of heap in a review's
 * run). Here a connection with more than `maxPipelined` unanswered requests is not read until
 * fewer than that remain, and one with more than 4 × `maxPipelined` is ended.
 *
 * The second bound is there because the first cannot stop what Node has already read: the
 * parser takes in every request of a read (up to 64 KiB, some 600 requests of 110 bytes, 3,600
 * of the smallest) before the connection can be paused.
 *
 * @module
 */
import type { Socket } from 'node:net';

/**
 * What a connection is paused with. Node 20's HTTP server has its own pause, for responses
 * that pile up unsent: it sets the socket's `_paused`, pauses the socket, and pauses its parser
 * once the read under way is parsed; `socketOnDrain` undoes the three. `socket.pause()` alone
 * does not hold, as a request read on resumes its socket unless `_paused` is set (seen on Node
 * 20.20: 30,000 tiny requests were all taken in), and a parser paused without the socket fails
 * the next read (`HPE_PAUSED`).
 */
interface HttpSocket extends Socket {
  _paused?: boolean;
  parser?: { resume(): void } | null;
}

/** One connection's unanswered requests. */
interface Connection {
  /** Each request's controller, aborted when the connection closes. */
  requests: Set<AbortController>;
  /** Whether reading is paused here (Node may also pause it, for its own reason). */
  paused: boolean;
}

/**
 * The connections with requests, each aborting all its requests with one listener when it
 * closes: one listener per request on one signal of the connection cost a scan of the others
 * each (in a review's run, a client that pipelined 30,000 requests took 10 s to take in, and
 * froze the server for 9 s when it went).
 */
const connections = new WeakMap<Socket, Connection>();

/** Stops reading `socket` (see {@link HttpSocket}). */
function pause(socket: HttpSocket): void {
  socket._paused = true;
  socket.pause();
}

/**
 * Takes in one request read from `socket`. A connection with more than `maxPipelined`
 * requests unanswered is not read on until fewer remain; one with more than 4 × `maxPipelined`
 * is ended, and none of its unanswered requests is answered.
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
  const http = socket as HttpSocket;
  let conn = connections.get(socket);
  if (!conn) {
    const c: Connection = { requests: new Set(), paused: false };
    conn = c;
    connections.set(socket, c);
    socket.once('close', () => {
      const reason = new Error('the client went away');
      for (const r of c.requests) r.abort(reason);
      c.requests.clear();
    });
    // Node resumes a socket whose `_paused` is set when the connection drains (a body piece
    // written), whoever paused it: paused again at once (in the same tick, so before any
    // read).
    socket.on('resume', () => {
      if (c.paused) pause(http);
    });
  }
  const held = conn;
  held.requests.add(ac);
  if (held.requests.size > 4 * maxPipelined) {
    // Its 'close' aborts every request of it.
    socket.destroy();
  } else if (held.requests.size > maxPipelined && !held.paused) {
    held.paused = true;
    pause(http);
  }
  return {
    signal: ac.signal,
    done: () => {
      held.requests.delete(ac);
      if (!held.paused || held.requests.size >= maxPipelined) return;
      held.paused = false;
      // Paused by Node too (its writes wait for the client): Node resumes it on drain.
      if (socket.destroyed || socket.writableNeedDrain) return;
      http._paused = false;
      http.parser?.resume();
      socket.resume();
    },
  };
}
