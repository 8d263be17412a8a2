// predict() of one recorded observation (the oracle's prediction of a real
// boot from its inputs: a full simulated boot plus the walk of the EL2
// tables). Target: ≤ 100 ms warm.

import { parseObservation, predict } from "../../plugins/oracle/mod.ts";

const DIR = new URL("../fixtures/oracle/observations/", import.meta.url);
const NAME = "v6.1-cortex-a57-4G-4cpu.json";
const obs = parseObservation(await Deno.readTextFile(new URL(NAME, DIR)), NAME);
const BIG = "v6.1-cortex-a57-16G-4cpu.json";
const big = parseObservation(await Deno.readTextFile(new URL(BIG, DIR)), BIG);

Deno.bench({
  name: "oracle predict, 6.1 on cortex-a57, 4 GiB, 4 CPUs (target ≤ 100 ms)",
  group: "oracle",
  baseline: true,
  async fn() {
    await predict(obs);
  },
});

Deno.bench({
  name: "oracle predict, 6.1 on cortex-a57, 16 GiB, 4 CPUs",
  group: "oracle",
  async fn() {
    await predict(big);
  },
});
