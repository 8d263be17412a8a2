/**
 * A gdb remote serial protocol client over loopback TCP, enough to inspect a
 * halted QEMU: `qSupported` (packet size, `QStartNoAckMode` when offered),
 * the target description and register numbers, `p` register reads, `m`
 * memory reads chunked to the packet size, the thread (CPU) list and `Hg`
 * selection, the 0x03 interrupt, QEMU's `Qqemu.PhyMemMode`, detach.
 *
 * Every wait has a deadline: a stub that stops answering is one
 * {@link OracleError} naming the packet it did not answer.
 *
 * @module
 */

import { hex } from "../../core/mod.ts";
import { OracleError } from "./errors.ts";
import {
  encodeRspPacket,
  hexToBytes,
  leBytesToBigint,
  type RspEvent,
  RspStreamParser,
} from "./rsp_packet.ts";
import { type TargetRegister, targetRegisters, xmlIncludes } from "./target_description.ts";

/** How to reach the stub. */
export interface RspConnectOptions {
  /** Host (default `127.0.0.1`). */
  hostname?: string;
  /** TCP port. */
  port: number;
  /** Deadline of each exchange in milliseconds (default 10000). */
  timeoutMs?: number;
  /** Called with every packet sent (`>`) and received (`<`), for debugging. */
  trace?: (direction: ">" | "<", text: string) => void;
}

const MAX_RETRIES = 3;

/**
 * A connected client. Create it with {@link RspClient.connect}; it has
 * already exchanged `qSupported` (and `QStartNoAckMode` when the stub offers
 * it). Requests run one at a time (the protocol has one outstanding packet).
 *
 * @example Against a stub you start yourself
 * ```ts ignore
 * import { RspClient } from "./rsp.ts";
 * const c = await RspClient.connect({ port: 1234 });
 * const ttbr = await c.readRegister("TTBR0_EL2");
 * await c.setPhysicalMemoryMode(true);
 * const pgd = await c.readMemory(ttbr & ~1n, 4096);
 * await c.detach();
 * await c.close();
 * ```
 */
export class RspClient {
  readonly #conn: Deno.Conn;
  readonly #where: string;
  readonly #timeoutMs: number;
  readonly #trace: ((d: ">" | "<", t: string) => void) | undefined;
  readonly #parser = new RspStreamParser();
  #events: RspEvent[] = [];
  #wake: (() => void) | null = null;
  #readFailure: Error | null = null;
  #closed = false;
  #broken: string | null = null;
  #noAck = false;
  #busy: Promise<unknown> = Promise.resolve();
  #features = new Map<string, string | boolean>();
  #packetSize = 400;
  #registers: TargetRegister[] | null = null;
  #loop: Promise<void>;

  private constructor(conn: Deno.Conn, where: string, opts: RspConnectOptions) {
    this.#conn = conn;
    this.#where = where;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#trace = opts.trace;
    this.#loop = this.#readLoop();
  }

  /**
   * Connects and negotiates: `qSupported`, then `QStartNoAckMode` if offered.
   *
   * @param opts Where and how long to wait.
   * @returns The client.
   * @throws {OracleError} When nothing listens there or the stub does not
   *   answer `qSupported`.
   */
  static async connect(opts: RspConnectOptions): Promise<RspClient> {
    const hostname = opts.hostname ?? "127.0.0.1";
    const where = `${hostname}:${opts.port}`;
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname, port: opts.port, transport: "tcp" });
      // One small packet answers another: without this, Nagle's algorithm and
      // delayed ACKs add ~40 ms to every exchange.
      conn.setNoDelay(true);
    } catch (e) {
      throw new OracleError(`cannot connect to the gdb stub at ${where}: ${(e as Error).message}`);
    }
    const c = new RspClient(conn, where, opts);
    try {
      await c.#negotiate();
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  async #negotiate(): Promise<void> {
    const reply = await this.request("qSupported");
    for (const item of reply.split(";")) {
      if (!item) continue;
      const eq = item.indexOf("=");
      if (eq >= 0) this.#features.set(item.slice(0, eq), item.slice(eq + 1));
      else if (item.endsWith("+")) this.#features.set(item.slice(0, -1), true);
      else if (item.endsWith("-")) this.#features.set(item.slice(0, -1), false);
    }
    const size = this.#features.get("PacketSize");
    if (typeof size === "string") {
      const n = parseInt(size, 16);
      if (!Number.isSafeInteger(n) || n < 32) {
        throw new OracleError(`gdb stub at ${this.#where}: bad PacketSize=${size} in qSupported`);
      }
      this.#packetSize = n;
    }
    if (this.#features.get("QStartNoAckMode") === true) {
      if ((await this.request("QStartNoAckMode")) === "OK") this.#noAck = true;
    }
  }

  /** Features the stub announced in `qSupported` (`PacketSize` → hex text, `qXfer:features:read` → true). */
  get features(): ReadonlyMap<string, string | boolean> {
    return this.#features;
  }

  /** Largest packet the stub accepts, in bytes (`PacketSize`, default 400). */
  get packetSize(): number {
    return this.#packetSize;
  }

  /** Whether acknowledgements are off (`QStartNoAckMode` accepted). */
  get noAckMode(): boolean {
    return this.#noAck;
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.#parser.push(buf.subarray(0, n));
        this.#events.push(...this.#parser.take());
        this.#wake?.();
      }
      this.#readFailure = new Error("the stub closed the connection");
    } catch (e) {
      this.#readFailure = e as Error;
    }
    this.#wake?.();
  }

  async #nextEvent(what: string): Promise<RspEvent> {
    const deadline = Date.now() + this.#timeoutMs;
    while (this.#events.length === 0) {
      if (this.#readFailure) {
        const why = this.#closed ? "the connection is closed" : this.#readFailure.message;
        throw this.#fail(`gdb stub at ${this.#where}: no reply to "${what}": ${why}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw this.#fail(
          `gdb stub at ${this.#where} stopped answering: no reply to "${what}" within ${
            this.#timeoutMs / 1000
          } s`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = null;
    }
    const ev = this.#events.shift()!;
    if (this.#trace && ev.kind === "packet") this.#trace("<", ev.raw);
    return ev;
  }

  #fail(message: string): OracleError {
    this.#broken = message;
    return new OracleError(message);
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    try {
      while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
    } catch (e) {
      throw this.#fail(`gdb stub at ${this.#where}: write failed: ${(e as Error).message}`);
    }
  }

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(() => {
      if (this.#broken) throw new OracleError(this.#broken);
      if (this.#closed) throw new OracleError(`gdb stub at ${this.#where}: connection closed`);
      return f();
    });
    this.#busy = run.catch(() => {});
    return run;
  }

  /**
   * Sends one packet and returns the stub's reply payload (decoded), handling
   * acks, retransmission on `-`, and `-` for a reply with a bad checksum.
   *
   * @param payload The command, e.g. `?` or `m40000000,10`.
   * @returns The reply as text (`""` means unsupported).
   * @throws {OracleError} On a timeout, a closed connection, or a stub that
   *   keeps sending corrupt packets or rejecting ours.
   */
  request(payload: string): Promise<string> {
    return this.#serial(() => this.#exchange(payload));
  }

  async #exchange(payload: string): Promise<string> {
    const packet = encodeRspPacket(payload);
    const dec = new TextDecoder();
    this.#trace?.(">", payload);
    await this.#write(packet);
    if (!this.#noAck) {
      let nacks = 0;
      while (true) {
        const ev = await this.#nextEvent(payload);
        if (ev.kind === "ack") break;
        if (ev.kind === "nack") {
          if (++nacks > MAX_RETRIES) {
            throw this.#fail(
              `gdb stub at ${this.#where} rejected "${payload}" ${nacks} times (bad checksum?)`,
            );
          }
          await this.#write(packet);
        } else if (ev.kind === "packet") {
          // A leftover reply (e.g. a stop packet sent before we asked): ack and drop it.
          await this.#write(Uint8Array.of(0x2b));
        }
      }
    }
    let bad = 0;
    while (true) {
      const ev = await this.#nextEvent(payload);
      if (ev.kind !== "packet") continue;
      if (ev.ok) {
        if (!this.#noAck) await this.#write(Uint8Array.of(0x2b));
        return dec.decode(ev.payload);
      }
      if (this.#noAck || ++bad > MAX_RETRIES) {
        throw this.#fail(
          `gdb stub at ${this.#where}: reply to "${payload}" has a bad checksum (${
            ev.raw.slice(-3)
          })${this.#noAck ? "" : ` ${bad} times`}`,
        );
      }
      await this.#write(Uint8Array.of(0x2d));
    }
  }

  /**
   * Sends a request whose reply must be `OK`.
   * @param payload The command.
   * @throws {OracleError} Naming the command and the reply otherwise.
   */
  async requestOk(payload: string): Promise<void> {
    const r = await this.request(payload);
    if (r !== "OK") {
      throw new OracleError(
        `gdb stub at ${this.#where}: "${payload}" answered ${r === "" ? "(unsupported)" : r}`,
      );
    }
  }

  /**
   * Halts the target with the 0x03 interrupt byte and waits for its stop
   * reply (`T..`/`S..`). Only meaningful while the target runs: a stub whose
   * target is already stopped may not answer (then this times out).
   *
   * @returns The stop reply.
   */
  interrupt(): Promise<string> {
    return this.#serial(async () => {
      this.#trace?.(">", "\\x03");
      await this.#write(Uint8Array.of(0x03));
      while (true) {
        const ev = await this.#nextEvent("interrupt (0x03)");
        if (ev.kind !== "packet" || !ev.ok) continue;
        if (!this.#noAck) await this.#write(Uint8Array.of(0x2b));
        const text = new TextDecoder().decode(ev.payload);
        if (/^[TS]/.test(text)) return text;
      }
    });
  }

  /**
   * The stop reason (`?`): QEMU stops the machine when a debugger attaches,
   * so this answers `T05...` at once.
   * @returns The stop reply.
   */
  async stopReason(): Promise<string> {
    const r = await this.request("?");
    if (!/^[TSWX]/.test(r)) throw new OracleError(`gdb stub at ${this.#where}: "?" answered ${r}`);
    return r;
  }

  /**
   * Reads a whole `qXfer:features:read` annex, in chunks the packet size allows.
   * @param annex E.g. `target.xml`.
   * @returns The document text.
   */
  async readFeatureAnnex(annex: string): Promise<string> {
    if (this.#features.get("qXfer:features:read") !== true) {
      throw new OracleError(`gdb stub at ${this.#where} does not offer qXfer:features:read`);
    }
    const chunk = Math.max(16, this.#packetSize - 5);
    let text = "";
    for (let i = 0; i < 4096; i++) {
      const r = await this.request(
        `qXfer:features:read:${annex}:${text.length.toString(16)},${chunk.toString(16)}`,
      );
      if (r.startsWith("l") || r.startsWith("m")) {
        text += r.slice(1);
        if (r.startsWith("l")) return text;
        if (r.length === 1) {
          throw new OracleError(`gdb stub at ${this.#where}: empty 'm' chunk of ${annex}`);
        }
      } else {
        throw new OracleError(
          `gdb stub at ${this.#where}: cannot read ${annex}: ${r === "" ? "unsupported" : r}`,
        );
      }
    }
    throw new OracleError(`gdb stub at ${this.#where}: ${annex} does not end`);
  }

  /**
   * The registers of the target description (`target.xml` and its includes).
   * Reading it also tells QEMU the debugger understands XML, without which
   * QEMU 7.2 refuses `p` on system registers.
   * @returns Registers, numbered as gdb numbers them.
   */
  async registers(): Promise<TargetRegister[]> {
    if (this.#registers) return this.#registers;
    const docs = new Map<string, string>();
    const queue = ["target.xml"];
    while (queue.length) {
      const annex = queue.shift()!;
      if (docs.has(annex)) continue;
      const xml = await this.readFeatureAnnex(annex);
      docs.set(annex, xml);
      queue.push(...xmlIncludes(xml));
    }
    try {
      this.#registers = targetRegisters("target.xml", docs);
    } catch (e) {
      throw new OracleError(`gdb stub at ${this.#where}: ${(e as Error).message}`);
    }
    return this.#registers;
  }

  /**
   * Finds a register by name, case-insensitively.
   * @param name E.g. `ttbr0_el2`.
   * @returns The register.
   * @throws {OracleError} When the target description has no such register.
   */
  async register(name: string): Promise<TargetRegister> {
    const regs = await this.registers();
    const want = name.toLowerCase();
    const r = regs.find((x) => x.name.toLowerCase() === want);
    if (!r) {
      throw new OracleError(
        `gdb stub at ${this.#where}: the target description has no register ${name}`,
      );
    }
    return r;
  }

  /**
   * Reads a register of the selected thread with `p` (little-endian bytes).
   * @param reg Name (case-insensitive) or number.
   * @returns The value.
   */
  async readRegister(reg: string | number): Promise<bigint> {
    const num = typeof reg === "number" ? reg : (await this.register(reg)).regnum;
    const label = typeof reg === "number" ? `register ${reg}` : reg;
    const r = await this.request(`p${num.toString(16)}`);
    if (r === "" || /^E[0-9a-fA-F]{2}$/.test(r) || /^x+$/i.test(r)) {
      throw new OracleError(
        `gdb stub at ${this.#where}: cannot read ${label}: ${r === "" ? "unsupported" : r}`,
      );
    }
    try {
      return leBytesToBigint(hexToBytes(r));
    } catch (e) {
      throw new OracleError(`gdb stub at ${this.#where}: ${label}: ${(e as Error).message}`);
    }
  }

  /** Most bytes one `m` request asks for: the hex reply takes two characters a byte. */
  get maxReadBytes(): number {
    return Math.max(1, Math.floor(this.#packetSize / 2));
  }

  /**
   * Reads memory with `m`, in as few requests as the packet size allows (a
   * short reply continues where it stopped).
   * @param address Start (virtual or physical, per `Qqemu.PhyMemMode`).
   * @param length Bytes.
   * @returns The bytes.
   * @throws {OracleError} Naming the address the stub refused.
   */
  async readMemory(address: bigint, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = address + BigInt(done);
      const n = Math.min(this.maxReadBytes, length - done);
      const r = await this.request(`m${at.toString(16)},${n.toString(16)}`);
      if (r === "" || /^E[0-9a-fA-F]{2}$/.test(r)) {
        throw new OracleError(
          `gdb stub at ${this.#where}: cannot read ${n} bytes at ${hex(at)}: ${r || "no data"}`,
        );
      }
      let bytes: Uint8Array;
      try {
        bytes = hexToBytes(r);
      } catch (e) {
        throw new OracleError(
          `gdb stub at ${this.#where}: m at ${hex(at)}: ${(e as Error).message}`,
        );
      }
      if (bytes.length === 0 || bytes.length > n) {
        throw new OracleError(
          `gdb stub at ${this.#where}: m at ${hex(at)} returned ${bytes.length} bytes for ${n}`,
        );
      }
      out.set(bytes, done);
      done += bytes.length;
    }
    return out;
  }

  /**
   * The thread ids (`qfThreadInfo`/`qsThreadInfo`); under QEMU each is a CPU.
   * @returns Ids as the stub spells them, in its order.
   */
  async threads(): Promise<string[]> {
    const ids: string[] = [];
    let r = await this.request("qfThreadInfo");
    for (let i = 0; i < 4096; i++) {
      if (r === "l") return ids;
      if (!r.startsWith("m")) {
        throw new OracleError(`gdb stub at ${this.#where}: thread list answered "${r}"`);
      }
      ids.push(...r.slice(1).split(",").filter((s) => s.length > 0));
      r = await this.request("qsThreadInfo");
    }
    throw new OracleError(`gdb stub at ${this.#where}: the thread list does not end`);
  }

  /**
   * Selects the thread later `p`/`m` requests use (`Hg`).
   * @param id A thread id from {@link RspClient.threads}.
   */
  async selectThread(id: string): Promise<void> {
    await this.requestOk(`Hg${id}`);
  }

  /**
   * QEMU's `Qqemu.PhyMemMode`: `m` reads guest physical addresses when on,
   * virtual addresses through the selected CPU's MMU when off. The mode is
   * global to the stub and survives reconnection, so set it explicitly.
   * @param on Physical when true.
   */
  async setPhysicalMemoryMode(on: boolean): Promise<void> {
    await this.requestOk(`Qqemu.PhyMemMode:${on ? 1 : 0}`);
  }

  /** Detaches (`D`); the target keeps its state. */
  async detach(): Promise<void> {
    await this.requestOk("D");
  }

  /**
   * Closes the connection (idempotent) and waits for the reader to finish.
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch {
        // already closed by the peer
      }
    }
    await this.#loop;
  }
}
