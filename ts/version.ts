// The package version, for the user agent and log lines. Read from
// package.json at runtime so a release needs one edit; the path holds from
// both ts/ (tests) and dist/ (the published build).
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = (require('../package.json') as { version: string }).version;
