/**
 * The hyplab core: physical memory, CPU registers, exception levels, the
 * CPU models, the plugin host, the trace, the PRNG and the capability
 * interfaces.
 *
 * The conformance suites (`conformance/mod.ts`) are exported from the
 * package's `mod.ts`, not from here: every plugin imports this module, and
 * a boot runs none of the suites (they were a twentieth of its start-up).
 *
 * @module
 */

export * from "./allocator_metrics.ts";
export * from "./capabilities/mod.ts";
export * from "./capability.ts";
export * from "./cpu_model.ts";
export * from "./cpu_model_masks.ts";
export * from "./errors.ts";
export * from "./exception_level.ts";
export * from "./format.ts";
export * from "./machine.ts";
export * from "./physical_memory.ts";
export * from "./plugin.ts";
export * from "./plugin_loader.ts";
export * from "./prng.ts";
export * from "./registers.ts";
export * from "./sysreg_defs.ts";
export * from "./trace.ts";
