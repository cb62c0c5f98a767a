export declare const SHARED_PATHS: string[];
/** Folders under functions/ with an index.ts. */
export declare function listFunctions(dir?: string): string[];
/** The functions to rebuild for these changed paths, and whether anything deployable changed. */
export declare function changedFunctions(
  paths: string[],
  functionNames: string[],
): { functions: string[]; deploy: boolean };
export declare function gitChangedPaths(base: string, head?: string, cwd?: string): string[];
export declare function resolve(args: string[], cwd?: string): { functions: string[]; deploy: boolean };
