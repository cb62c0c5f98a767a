/** Names of the folders under functions/ that have an index.ts. */
export declare const functionNames: string[];
/** Builds every bundle into dist/ (what `npm run build` does). */
export declare function buildAll(): Promise<void>;
/** The build-time interventions `--without=<name>` leaves out (tools/bundle/plugins.mjs). */
export declare const interventions: string[];
