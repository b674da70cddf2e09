/** What library code reads of Node's `process` (temporary file names, the fault-injection switch), in the browser. */
export const process = { pid: 1, env: {} as Record<string, string | undefined>, platform: 'browser' };
