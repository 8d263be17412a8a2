/**
 * What the a64 / switch_sequence tests use: the core and the two plugins,
 * without going through the root barrel (so other plugins' exports cannot
 * break these tests).
 *
 * @module
 */
export * from "../../../core/mod.ts";
export * from "../../../plugins/a64/mod.ts";
export * from "../../../plugins/switch_sequence/mod.ts";
