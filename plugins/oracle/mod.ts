/**
 * The oracle: observe a real Linux kernel booting in pKVM protected mode
 * under `qemu-system-aarch64` (TCG), to check hyplab against it.
 *
 * `setup` installs QEMU and fetches Debian's arm64 kernels (6.1, 6.12, 7.2)
 * with their System.map into the cache; `observe` boots one, waits for its
 * final panic, halts it through QEMU's gdb stub and records an
 * {@link Observation}: the inputs a prediction may use (machine, memblock at
 * `kvm_hyp_reserve()`, image symbols, host facts) and what it must predict
 * (mode, pool, EL2 registers, EL2 stage-1 mappings, the host stage-2's
 * geometry and the hypervisor's owner annotations in it, and each CPU's
 * `kvm_hyp_vector`).
 *
 * @example Parse a saved observation
 * ```ts ignore
 * import { parseObservation } from "./mod.ts";
 * const obs = parseObservation(await Deno.readTextFile("obs.json"), "obs.json");
 * console.log(obs.observed.el2.mappings.length);
 * ```
 *
 * @module
 */

export * from "./apt_source.ts";
export * from "./console_log.ts";
export * from "./deb_extract.ts";
export * from "./el2_walk.ts";
export * from "./errors.ts";
export * from "./host_facts.ts";
export * from "./kernel_cache.ts";
export * from "./memblock_log.ts";
export * from "./observation.ts";
export * from "./observe.ts";
export * from "./private_apt.ts";
export * from "./qemu.ts";
export * from "./range_set.ts";
export * from "./rsp.ts";
export * from "./rsp_packet.ts";
export * from "./s2_walk.ts";
export * from "./setup.ts";
export * from "./system_map.ts";
export * from "./target_description.ts";
export * from "./predict.ts";
export * from "./diff.ts";
