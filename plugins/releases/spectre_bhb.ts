/**
 * The CPU lists of the kernel's Spectre-BHB mitigation (5.17 on,
 * `arch/arm64/kernel/proton-pack.c`), as data: which CPUs are known safe
 * (`is_spectre_bhb_safe()`), which need the branchy loop and how many
 * branches (`spectre_bhb_loop_affected()`), and which are safe from
 * Spectre-v2 by their MIDR (`spectre_v2_get_cpu_hw_mitigation_state()`).
 * The 6.1 (6.1.176, with the "assume unknown CPUs are vulnerable" backport)
 * and 6.12 lists are the same; 7.2 adds the Cortex-A720AE to k = 38.
 *
 * @module
 */

import type { MidrPart, SpectreBhbFacts } from "./types.ts";

const ARM = 0x41;
const BRCM = 0x42;
const QCOM = 0x51;
const HISI = 0x48;
const AMPERE = 0xc0;

const part = (implementer: number, partNum: number, name: string): MidrPart => ({
  implementer,
  partNum,
  name,
});

const A35 = part(ARM, 0xd04, "Cortex-A35");
const A53 = part(ARM, 0xd03, "Cortex-A53");
const A55 = part(ARM, 0xd05, "Cortex-A55");
const A510 = part(ARM, 0xd46, "Cortex-A510");
const A520 = part(ARM, 0xd80, "Cortex-A520");
const BRAHMA_B53 = part(BRCM, 0x100, "Brahma-B53");
const KRYO_2XX_SILVER = part(QCOM, 0x801, "Kryo 2xx Silver");
const KRYO_3XX_SILVER = part(QCOM, 0x803, "Kryo 3xx Silver");
const KRYO_4XX_SILVER = part(QCOM, 0x805, "Kryo 4xx Silver");
const TSV110 = part(HISI, 0xd01, "TSV110");

/** Linux 6.1.176 and 6.12 (`proton-pack.c`). */
export const SPECTRE_BHB_6: SpectreBhbFacts = {
  safe: [A35, A53, A55, A510, A520, BRAHMA_B53, KRYO_2XX_SILVER, KRYO_3XX_SILVER, KRYO_4XX_SILVER],
  loop: [
    { k: 132, parts: [part(ARM, 0xd4e, "Cortex-X3"), part(ARM, 0xd4f, "Neoverse-V2")] },
    { k: 38, parts: [part(ARM, 0xd4d, "Cortex-A715"), part(ARM, 0xd81, "Cortex-A720")] },
    {
      k: 32,
      parts: [
        part(ARM, 0xd41, "Cortex-A78"),
        part(ARM, 0xd42, "Cortex-A78AE"),
        part(ARM, 0xd4b, "Cortex-A78C"),
        part(ARM, 0xd44, "Cortex-X1"),
        part(ARM, 0xd4c, "Cortex-X1C"),
        part(ARM, 0xd47, "Cortex-A710"),
        part(ARM, 0xd48, "Cortex-X2"),
        part(ARM, 0xd49, "Neoverse-N2"),
        part(ARM, 0xd40, "Neoverse-V1"),
        TSV110,
      ],
    },
    {
      k: 24,
      parts: [
        part(ARM, 0xd0b, "Cortex-A76"),
        part(ARM, 0xd0e, "Cortex-A76AE"),
        part(ARM, 0xd0d, "Cortex-A77"),
        part(ARM, 0xd0c, "Neoverse-N1"),
        part(QCOM, 0x804, "Kryo 4xx Gold"),
        part(HISI, 0xd02, "HIP09"),
      ],
    },
    { k: 11, parts: [part(AMPERE, 0xac3, "Ampere-1")] },
    { k: 8, parts: [part(ARM, 0xd08, "Cortex-A72"), part(ARM, 0xd07, "Cortex-A57")] },
  ],
  v2Safe: [A35, A53, A55, BRAHMA_B53, TSV110, KRYO_2XX_SILVER, KRYO_3XX_SILVER, KRYO_4XX_SILVER],
};

/** Linux 7.2: 6.x's lists, with the Cortex-A720AE at k = 38. */
export const SPECTRE_BHB_7: SpectreBhbFacts = {
  ...SPECTRE_BHB_6,
  loop: SPECTRE_BHB_6.loop.map((l) =>
    l.k === 38 ? { k: 38, parts: [...l.parts, part(ARM, 0xd89, "Cortex-A720AE")] } : l
  ),
};
