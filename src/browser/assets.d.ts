/**
 * What the browser entry cannot read from the package at run time. The module (assets.js) is
 * generated into dist/browser/ by scripts/browser-assets.mjs during `npm run build:ts`; only this
 * declaration is a source file.
 */
/** package.json's version. */
export declare const VERSION: string;
/** kernels/wgsl/*.wgsl by file name ('common.wgsl', ...). */
export declare const WGSL_SOURCES: Readonly<Record<string, string>>;
