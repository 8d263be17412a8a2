import { assertEquals, assertThrows } from "@std/assert";
import {
  decodeRspPayload,
  encodeRspPacket,
  hexToBytes,
  leBytesToBigint,
  RspStreamParser,
} from "../../../plugins/oracle/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("rsp framing: checksums and escapes on the way out", () => {
  assertEquals(dec.decode(encodeRspPacket("qSupported")), "$qSupported#37");
  assertEquals(dec.decode(encodeRspPacket("m13e006000,800")), "$m13e006000,800#20");
  // '$', '#', '}' and '*' are escaped, and the checksum covers the escaped bytes.
  assertEquals(dec.decode(encodeRspPacket("X0,1:$")), "$X0,1:}\x04#a0");
});

Deno.test("rsp framing: run-length encoding, then escapes, on the way in", () => {
  const d = (s: string) => dec.decode(decodeRspPayload(enc.encode(s)));
  assertEquals(d('1*"'), "111111"); // '"' is 34: five more ones
  assertEquals(d("0* 1"), "00001");
  assertEquals(d("a}]b"), "a}b");
  assertEquals(d("}\x0a"), "*");
  assertThrows(() => d("*x"), SyntaxError, "nothing to repeat");
  assertThrows(() => d("0*\x01"), SyntaxError, "invalid");
  assertThrows(() => d("ab}"), SyntaxError, "escape");
});

Deno.test("rsp stream parser: split packets, acks, notifications, bad checksums", () => {
  const p = new RspStreamParser();
  p.push(enc.encode("+-$T05#b"));
  assertEquals(p.take(), [{ kind: "ack" }, { kind: "nack" }]);
  assertEquals(p.pending, true);
  p.push(enc.encode("9junk%Stop:T05#00$OK#00"));
  const ev = p.take();
  assertEquals(ev.map((e) => e.kind), ["packet", "notification", "packet"]);
  const [first, , last] = ev;
  assertEquals(first?.kind === "packet" && [dec.decode(first.payload), first.ok], ["T05", true]);
  assertEquals(last?.kind === "packet" && last.ok, false);
  assertEquals(p.pending, false);
});

Deno.test("hex and little-endian helpers", () => {
  assertEquals(leBytesToBigint(hexToBytes("0060003e01000000")), 0x13e006000n);
  assertThrows(() => hexToBytes("abc"), SyntaxError);
  assertThrows(() => hexToBytes("zz"), SyntaxError);
});
