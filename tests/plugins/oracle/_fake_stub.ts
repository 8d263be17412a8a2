// A fake gdb stub for the RSP client tests, with its own framing code (not
// the client's) so the two check each other. It accepts one connection,
// acks and answers each packet with `handle`, and records what it saw.

const enc = new TextEncoder();
const dec = new TextDecoder();

function checksum(body: string): string {
  let s = 0;
  for (const b of enc.encode(body)) s = (s + b) & 0xff;
  return s.toString(16).padStart(2, "0");
}

/** How the fake behaves. */
export interface FakeStubOptions {
  /** Reply body for a packet, exactly as it goes on the wire (RLE/escapes included); null: no reply. */
  handle(payload: string): string | null;
  /** The reply to `qSupported` (default `PacketSize=1000;qXfer:features:read+`). */
  features?: string;
  /** Send this reply with a wrong checksum when it returns true (n counts sends of that reply). */
  corrupt?: (payload: string, n: number) => boolean;
  /** NAK (`-`) the client's packet instead of acking when it returns true. */
  nak?: (payload: string, n: number) => boolean;
  /** Close the connection on this packet instead of answering. */
  hangUpOn?: (payload: string) => boolean;
}

/** What the fake saw. */
export interface FakeStubLog {
  /** Packets received (payloads), in order, retransmissions included. */
  packets: string[];
  /** Acks (`+`) and naks (`-`) received from the client. */
  acks: string[];
  /** Whether the interrupt byte arrived. */
  interrupted: boolean;
}

/**
 * Runs `fn` against a fake stub on a free loopback port.
 * @param opts Behaviour.
 * @param fn The test body, given the port.
 * @returns What the stub saw.
 */
export async function withFakeStub(
  opts: FakeStubOptions,
  fn: (port: number) => Promise<void>,
): Promise<FakeStubLog> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const log: FakeStubLog = { packets: [], acks: [], interrupted: false };
  let noAck = false;
  const sends = new Map<string, number>();
  const seen = new Map<string, number>();
  let conn: Deno.Conn | null = null;
  const serve = (async () => {
    try {
      conn = await listener.accept();
    } catch {
      return;
    }
    const c = conn;
    (c as Deno.TcpConn).setNoDelay(true);
    let buf = "";
    let last = null as { payload: string; body: string } | null;
    const write = async (s: string) => {
      const b = enc.encode(s);
      let off = 0;
      while (off < b.length) off += await c.write(b.subarray(off));
    };
    const reply = async (payload: string, body: string) => {
      const n = (sends.get(payload) ?? 0) + 1;
      sends.set(payload, n);
      const sum = opts.corrupt?.(payload, n)
        ? (parseInt(checksum(body), 16) ^ 0x5a).toString(16).padStart(2, "0")
        : checksum(body);
      last = { payload, body };
      await write(`$${body}#${sum}`);
    };
    const chunk = new Uint8Array(65536);
    try {
      while (true) {
        const n = await c.read(chunk);
        if (n === null) return;
        buf += dec.decode(chunk.subarray(0, n));
        while (buf.length) {
          const ch = buf[0]!;
          if (ch === "+" || ch === "-") {
            log.acks.push(ch);
            buf = buf.slice(1);
            if (ch === "-" && last) await reply(last.payload, last.body);
            continue;
          }
          if (ch === "\x03") {
            log.interrupted = true;
            buf = buf.slice(1);
            const r = opts.handle("\x03");
            if (r !== null) await reply("\x03", r);
            continue;
          }
          if (ch !== "$") {
            buf = buf.slice(1);
            continue;
          }
          const end = buf.indexOf("#");
          if (end < 0 || end + 3 > buf.length) break;
          const body = buf.slice(1, end);
          const sum = buf.slice(end + 1, end + 3);
          buf = buf.slice(end + 3);
          if (sum !== checksum(body)) {
            await write("-");
            continue;
          }
          // Undo the client's escapes (it only escapes, never RLE-encodes).
          const payload = body.replace(
            /\}(.)/g,
            (_, x: string) => String.fromCharCode(x.charCodeAt(0) ^ 0x20),
          );
          log.packets.push(payload);
          const k = (seen.get(payload) ?? 0) + 1;
          seen.set(payload, k);
          if (!noAck && opts.nak?.(payload, k)) {
            await write("-");
            continue;
          }
          if (!noAck) await write("+");
          if (opts.hangUpOn?.(payload)) {
            c.close();
            return;
          }
          if (payload === "qSupported") {
            await reply(payload, opts.features ?? "PacketSize=1000;qXfer:features:read+");
            continue;
          }
          if (payload === "QStartNoAckMode") {
            await reply(payload, "OK");
            noAck = true;
            continue;
          }
          const r = opts.handle(payload);
          if (r !== null) await reply(payload, r);
        }
      }
    } catch {
      // the client closed the connection
    }
  })();
  try {
    await fn(port);
  } finally {
    listener.close();
    try {
      (conn as Deno.Conn | null)?.close();
    } catch {
      // already closed
    }
    await serve;
  }
  return log;
}

/** Hex of little-endian bytes of a value, `size` bytes. */
export function leHex(v: bigint, size: number): string {
  let s = "";
  for (let i = 0; i < size; i++) s += ((v >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, "0");
  return s;
}
