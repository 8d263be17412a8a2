/**
 * Page-table geometry constants the sizing formulas use (4 KiB pages). Kept
 * out of the plugin's public exports: other plugins export the same kernel
 * names.
 *
 * @module
 */

/** `PTRS_PER_PTE`. */
export const PTRS_PER_PTE = 512;
/** `PMD_SIZE` (2 MiB). */
export const PMD_SIZE: number = 2 * 1024 * 1024;
/** `SZ_1G`. */
export const SZ_1G: number = 1024 * 1024 * 1024;
