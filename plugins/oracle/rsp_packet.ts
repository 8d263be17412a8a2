/**
 * GDB remote serial protocol framing: `$payload#cc` packets with a modulo-256
 * checksum, `+`/`-` acknowledgements, binary escapes (`}` then the byte XOR
 * 0x20) and run-length encoding (`X*n`: X repeated n − 29 more times).
 *
 * Decoding follows gdb's own order (`read_frame` then
 * `remote_unescape_input` in gdb/remote.c): the run-length encoding is
 * expanded on the raw bytes, then escapes are undone.
 *
 * @module
 */

const DOLLAR = 0x24;
const HASH = 0x23;
const ESCAPE = 0x7d;
const STAR = 0x2a;
const PLUS = 0x2b;
const MINUS = 0x2d;
const PERCENT = 0x25;

/**
 * Sum of the bytes modulo 256, the packet checksum.
 *
 * @param bytes The payload as sent (escaped, encoded).
 * @returns 0..255.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { rspChecksum } from "./rsp_packet.ts";
 * assertEquals(rspChecksum(new TextEncoder().encode("qSupported")), 0x37);
 * ```
 */
export function rspChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum;
}

/**
 * Escapes `$`, `#`, `}` and `*` in an outgoing payload (each becomes `}` and
 * the byte XOR 0x20).
 *
 * @param payload Raw payload bytes.
 * @returns The escaped bytes.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { rspEscape } from "./rsp_packet.ts";
 * assertEquals(new TextDecoder().decode(rspEscape(new TextEncoder().encode("a#b"))), "a}\x03b");
 * ```
 */
export function rspEscape(payload: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (const b of payload) {
    if (b === DOLLAR || b === HASH || b === ESCAPE || b === STAR) out.push(ESCAPE, b ^ 0x20);
    else out.push(b);
  }
  return Uint8Array.from(out);
}

/**
 * Frames a payload as `$payload#cc` (the payload escaped first).
 *
 * @param payload The command text, e.g. `qSupported` or `m40000000,800`.
 * @returns The bytes to write on the wire.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeRspPacket } from "./rsp_packet.ts";
 * assertEquals(new TextDecoder().decode(encodeRspPacket("g")), "$g#67");
 * ```
 */
export function encodeRspPacket(payload: string | Uint8Array): Uint8Array {
  const raw = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  const body = rspEscape(raw);
  const sum = rspChecksum(body).toString(16).padStart(2, "0");
  const out = new Uint8Array(body.length + 4);
  out[0] = DOLLAR;
  out.set(body, 1);
  out[body.length + 1] = HASH;
  out[body.length + 2] = sum.charCodeAt(0);
  out[body.length + 3] = sum.charCodeAt(1);
  return out;
}

/**
 * Decodes a received packet body: expands run-length encoding, then undoes
 * binary escapes.
 *
 * @param raw The bytes between `$` and `#`.
 * @returns The payload bytes.
 * @throws {SyntaxError} On a `*` with nothing before it or a bad count, or a
 *   trailing `}`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeRspPayload } from "./rsp_packet.ts";
 * const d = (s: string) => new TextDecoder().decode(decodeRspPayload(new TextEncoder().encode(s)));
 * assertEquals(d("0* "), "0000");     // ' ' is 32: three more '0'
 * assertEquals(d("a}\x03b"), "a#b");
 * ```
 */
export function decodeRspPayload(raw: Uint8Array): Uint8Array {
  const expanded: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b !== STAR) {
      expanded.push(b);
      continue;
    }
    if (expanded.length === 0 || i + 1 >= raw.length) {
      throw new SyntaxError(`run-length marker '*' at byte ${i} has nothing to repeat`);
    }
    const n = raw[++i]! - 29;
    if (n < 3 || n > 97) throw new SyntaxError(`run-length count ${n} at byte ${i} is invalid`);
    const c = expanded[expanded.length - 1]!;
    for (let k = 0; k < n; k++) expanded.push(c);
  }
  const out: number[] = [];
  for (let i = 0; i < expanded.length; i++) {
    const b = expanded[i]!;
    if (b !== ESCAPE) {
      out.push(b);
      continue;
    }
    if (i + 1 >= expanded.length) throw new SyntaxError("escape '}' at the end of a packet");
    out.push(expanded[++i]! ^ 0x20);
  }
  return Uint8Array.from(out);
}

/** What the byte stream from a stub contained, in order. */
export type RspEvent =
  | { kind: "ack" }
  | { kind: "nack" }
  /** A packet; `ok` is false when its checksum does not match. */
  | { kind: "packet"; payload: Uint8Array; ok: boolean; raw: string }
  /** A non-stop notification (`%...#cc`), which an all-stop client ignores. */
  | { kind: "notification"; raw: string };

/**
 * Incremental parser of the bytes a stub sends: feed chunks as they arrive,
 * take the complete events out. Bytes outside any packet other than `+`/`-`
 * are skipped (line noise).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RspStreamParser } from "./rsp_packet.ts";
 * const p = new RspStreamParser();
 * p.push(new TextEncoder().encode("+$O"));
 * p.push(new TextEncoder().encode("K#9a"));
 * const [ack, reply] = p.take();
 * assertEquals(ack, { kind: "ack" });
 * assertEquals(reply?.kind === "packet" && new TextDecoder().decode(reply.payload), "OK");
 * ```
 */
export class RspStreamParser {
  #buf: Uint8Array = new Uint8Array(0);
  #events: RspEvent[] = [];

  /**
   * Appends received bytes and parses every complete event.
   * @param chunk Bytes as read from the socket.
   */
  push(chunk: Uint8Array): void {
    const merged = new Uint8Array(this.#buf.length + chunk.length);
    merged.set(this.#buf);
    merged.set(chunk, this.#buf.length);
    let i = 0;
    while (i < merged.length) {
      const b = merged[i]!;
      if (b === PLUS) {
        this.#events.push({ kind: "ack" });
        i++;
      } else if (b === MINUS) {
        this.#events.push({ kind: "nack" });
        i++;
      } else if (b === DOLLAR || b === PERCENT) {
        const end = merged.indexOf(HASH, i + 1);
        if (end < 0 || end + 2 >= merged.length) break; // incomplete: wait for more
        const body = merged.subarray(i + 1, end);
        const sumText = String.fromCharCode(merged[end + 1]!, merged[end + 2]!);
        const raw = new TextDecoder().decode(merged.subarray(i, end + 3));
        if (b === PERCENT) this.#events.push({ kind: "notification", raw });
        else {
          const ok = /^[0-9a-fA-F]{2}$/.test(sumText) &&
            parseInt(sumText, 16) === rspChecksum(body);
          let payload: Uint8Array = new Uint8Array(0);
          let decodedOk = ok;
          if (ok) {
            try {
              payload = decodeRspPayload(body);
            } catch {
              decodedOk = false;
            }
          }
          this.#events.push({ kind: "packet", payload, ok: decodedOk, raw });
        }
        i = end + 3;
      } else i++;
    }
    this.#buf = merged.slice(i);
  }

  /**
   * Removes and returns the events parsed so far.
   * @returns Events in arrival order.
   */
  take(): RspEvent[] {
    const e = this.#events;
    this.#events = [];
    return e;
  }

  /** Whether a partial packet is waiting for more bytes. */
  get pending(): boolean {
    return this.#buf.length > 0;
  }
}

/**
 * Hex text to bytes (two digits per byte).
 *
 * @param text Even-length hex.
 * @returns The bytes.
 * @throws {SyntaxError} On odd length or a non-hex digit.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hexToBytes } from "./rsp_packet.ts";
 * assertEquals([...hexToBytes("0370")], [3, 0x70]);
 * ```
 */
export function hexToBytes(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new SyntaxError(`expected hex bytes, got "${text.slice(0, 40)}"`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Little-endian bytes to an unsigned bigint (target byte order on arm64).
 *
 * @param bytes Up to any length.
 * @returns The value.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { leBytesToBigint } from "./rsp_packet.ts";
 * assertEquals(leBytesToBigint(Uint8Array.of(0x03, 0x70, 0x00, 0x3e, 0x01)), 0x13e007003n);
 * ```
 */
export function leBytesToBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}
